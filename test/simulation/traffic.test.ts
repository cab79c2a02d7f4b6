import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Issuer, generateCa } from '../../lib/pki/index.js';
import { TrafficThread } from '../../lib/simulation/traffic.js';
import { DAY, T0 } from '../support/pki.js';

const traffic = new TrafficThread();
afterAll(() => traffic.stop());

async function sides() {
  const [one, two] = await Promise.all([1, 2].map((generation) => generateCa({ authority: 'traffic', generation, now: T0, lifetimeMs: 90 * DAY })));
  if (one === undefined || two === undefined) throw new Error('two CAs expected');
  const leaf = (ca: typeof one, usage: 'server' | 'client') =>
    Issuer.fromCaGeneration(ca).issueLeaf({ subject: `CN=${usage}`, dnsNames: ['localhost'], usage, lifetimeMs: 7 * DAY }, T0);
  const [server, client, clientFromTwo] = await Promise.all([leaf(one, 'server'), leaf(one, 'client'), leaf(two, 'client')]);
  return {
    server: { ...server, bundlePem: one.certificatePem },
    client: { ...client, bundlePem: one.certificatePem },
    clientFromTwo: { ...clientFromTwo, bundlePem: one.certificatePem },
  };
}

/** Daily checks of `sides`: the server as a server (valid), the client as a server (wrong purpose), the client as a client (valid). */
function dailyChecks({ server, client }: Awaited<ReturnType<typeof sides>>) {
  return {
    serverChecked: { chainPem: server.certificatePem, bundlePem: client.bundlePem, purpose: 'serverAuth' as const },
    wrongPurpose: { chainPem: client.certificatePem, bundlePem: server.bundlePem, purpose: 'serverAuth' as const },
    clientChecked: { chainPem: client.certificatePem, bundlePem: server.bundlePem, purpose: 'clientAuth' as const },
  };
}

/** The nice value of each of this process's threads, by thread id (Linux's /proc). */
function threadNiceness(): Map<number, number> {
  const niceness = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const fields = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    niceness.set(Number(tid), Number(fields[16]));
  }
  return niceness;
}

describe('the traffic thread', () => {
  it.runIf(process.platform === 'linux')('runs below the priority of the thread that ticks, which sets the pace', async () => {
    const { server, client } = await sides();
    expect((await traffic.handshake(server, client, T0 + DAY)).ok).toBe(true);
    const niceness = threadNiceness();
    const ticking = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    expect(niceness.get(ticking)).toBe(0);
    expect([...niceness.values()].filter((nice) => nice === 10).length).toBeGreaterThanOrEqual(1);
  });

  it('handshakes and verifies at the simulated instant it is given, not the wall clock', async () => {
    const { server, client, clientFromTwo } = await sides();
    const [within, afterExpiry, untrusted] = await Promise.all([
      traffic.handshake(server, client, T0 + DAY),
      traffic.handshake(server, client, T0 + 8 * DAY),
      traffic.handshake(server, clientFromTwo, T0 + DAY),
    ]);
    expect(within.ok).toBe(true);
    expect(afterExpiry.ok ? 'completed' : afterExpiry.error).toMatch(/expired/);
    expect(untrusted.ok).toBe(false);
  });

  it('keeps the daily checks and judges them again at each new instant, with only the changes sent', async () => {
    const daily = new TrafficThread();
    try {
      const { serverChecked, wrongPurpose, clientChecked } = dailyChecks(await sides());
      const judged = async (checks: Parameters<TrafficThread['dailyCheck']>[0], at: number) =>
        (await daily.dailyCheck(checks, at)).map(({ index, verdict }) => `${index}:${verdict.expired ? 'expired' : 'refused'}`);

      expect(await judged([serverChecked, wrongPurpose, clientChecked], T0 + DAY)).toEqual(['1:refused']);
      // Nothing changed: the same checks, judged after the leaves expired.
      expect(await judged([serverChecked, wrongPurpose, clientChecked], T0 + 8 * DAY)).toEqual(['0:expired', '1:refused', '2:expired']);
      // A check gone (a hole, then a shorter list) is judged no more.
      expect(await judged([serverChecked, undefined], T0 + 8 * DAY)).toEqual(['0:expired']);
      expect(await judged([], T0 + 8 * DAY)).toEqual([]);
      // Back again, after being dropped: judged from its own material, not from what was held before.
      expect(await judged([undefined, undefined, clientChecked], T0 + DAY)).toEqual([]);
    } finally {
      await daily.stop();
    }
  });

  it('answers a backlog far larger than it posts at once, each request with its own verdict, daily checks in order', async () => {
    const backlog = new TrafficThread();
    try {
      const both = await sides();
      const { server, client, clientFromTwo } = both;
      const { serverChecked } = dailyChecks(both);
      const results = Array.from({ length: 150 }, (_, index) => backlog.handshake(server, index % 3 === 0 ? clientFromTwo : client, T0 + DAY));
      // Queued behind the handshakes: the second sends no change and must be judged after the first.
      const first = backlog.dailyCheck([serverChecked], T0 + DAY);
      const second = backlog.dailyCheck([serverChecked], T0 + 8 * DAY);
      const verdicts = await Promise.all(results);
      expect(verdicts.map((verdict, index) => verdict.ok === (index % 3 !== 0))).not.toContain(false);
      expect(await first).toEqual([]);
      expect((await second).map(({ index, verdict }) => `${index}:${verdict.expired}`)).toEqual(['0:true']);
    } finally {
      await backlog.stop();
    }
  });

  it('judges a daily list whose changes cross in several messages as one list', async () => {
    const daily = new TrafficThread();
    try {
      const { serverChecked, wrongPurpose } = dailyChecks(await sides());
      const checks = Array.from({ length: 3000 }, (_, index) => (index % 7 === 0 ? wrongPurpose : serverChecked));
      const failed = (await daily.dailyCheck(checks, T0 + DAY)).map(({ index }) => index);
      expect(failed).toEqual(checks.flatMap((check, index) => (check === wrongPurpose ? [index] : [])));
      // Every check changed: all expired a week later, including those sent in the first messages.
      expect((await daily.dailyCheck(checks.map(() => serverChecked), T0 + 8 * DAY)).length).toBe(3000);
    } finally {
      await daily.stop();
    }
  });

  it('refuses work once stopped, rather than leaving a run waiting forever', async () => {
    const stopped = new TrafficThread();
    await stopped.stop();
    const { server, client } = await sides();
    await expect(stopped.handshake(server, client, T0 + DAY)).rejects.toThrow(/stopped/);
  });

  it('rejects what is still in flight when stopped', async () => {
    const stopping = new TrafficThread();
    const { server, client } = await sides();
    const rejected = expect(stopping.handshake(server, client, T0 + DAY)).rejects.toThrow(/stopped/);
    await stopping.stop();
    await rejected;
  });
});
