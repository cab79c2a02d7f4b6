import { afterEach, describe, expect, it } from 'vitest';
import { fleetConfig } from '../support/fleet.js';
import { HOUR, T0 } from '../support/pki.js';
import { captureOutput, fixture, lambdaContext, startHarness, type Harness, like } from './support.js';

const MINUTE = 60_000;
let harness: Harness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

/** The base64 body lines of a PEM private key (the secret part), and the body joined. */
function secretParts(pem: string): string[] {
  const body = pem.split('\n').filter((line) => line.length > 0 && !line.startsWith('-----'));
  return [...body.filter((line) => line.length >= 16), body.join('')];
}

describe('no private key material leaves the handlers', () => {
  it('runs bootstrap, renewals, a forced rotation with pause and resume, an emergency rotation rolled back, and bad events; no issued key appears in any log line, metric, event, response or error', async () => {
    harness = await startHarness(fleetConfig({ leaves: 6, caKeyStore: 'secret' }), T0);
    const h = harness;
    const output = captureOutput();
    const responses: unknown[] = [];
    const call = async (fn: 'scan' | 'advance' | 'command', event: unknown) => {
      const response: unknown = await h[fn](event, lambdaContext(`certrotate-${fn}`));
      responses.push(response);
      return response;
    };
    const advanceUntil = async (done: (phase: string, generation: number) => boolean) => {
      for (let i = 0; i < 200; i++) {
        h.clock.advance(5 * MINUTE);
        await call('advance', fixture('advance.v1.json'));
        const record = await h.env.state.readState('cluster');
        if (record !== undefined && done(record.state.phase, record.state.generation)) return;
      }
      throw new Error('the rotation did not finish');
    };
    try {
      await call('scan', fixture('scan.reconcile.v1.json'));
      await call('command', fixture('command.status.v1.json'));
      h.clock.advance(MINUTE);
      await call('command', fixture('command.renew.leaf.v1.json'));
      await call('command', fixture('command.renew.all.v1.json'));
      h.clock.advance(HOUR);
      await call('command', fixture('command.rotate-ca.v1.json'));
      await call('command', fixture('command.pause.v1.json'));
      await call('command', fixture('command.plan.v1.json'));
      await call('command', fixture('command.resume.v1.json'));
      await advanceUntil((phase, generation) => phase === 'Stable' && generation === 2);
      // An emergency rotation skips every soak: one advance carries it to Stable on CA 3.
      await call('command', fixture('command.rotate-ca.emergency.v1.json'));
      await advanceUntil((phase, generation) => phase === 'Stable' && generation === 3);
      await call('command', { ...(fixture('command.rotate-ca.v1.json') as object), requestId: 'rotate-again' });
      await advanceUntil((phase) => phase === 'LeavesMigrated');
      await call('command', fixture('command.rollback.v1.json'));
      await advanceUntil((phase) => phase === 'Stable');
      h.clock.advance(6 * 24 * HOUR);
      await call('scan', fixture('scan.hourly.v1.json'));
      await call('command', fixture('command.status.all.v1.json'));
      for (const bad of ['command.bad.wrong-types.v1.json', 'command.bad.unknown-authority.v1.json', 'command.bad.not-an-object.v1.json']) {
        await call('command', fixture(bad));
      }
    } finally {
      output.restore();
    }

    const record = await h.env.state.readState('cluster');
    expect(record?.state).toMatchObject({ phase: 'Stable', generation: 3, abandoned: [4], retired: [1, 2] });
    // CAs 1-4, the bootstrap leaves, two renewals, three migrations, the rollback's reissue and the scan's renewals.
    expect(h.keys.size).toBeGreaterThan(30);

    // What went to EventBridge is searched too: every transition and reissued leaf, never a key.
    const sent = h.eventBridge.events();
    for (const type of ['Rotation Phase Changed', 'Leaf Renewed', 'CA Generated', 'Bundle Published', 'CA Retired']) {
      expect(sent.map((event) => event.detailType), type).toContain(type);
    }
    expect(sent.every((event) => event.source === 'certrotate')).toBe(true);
    const captured = [output.text(), JSON.stringify(responses), JSON.stringify(sent)].join('\n');
    expect(captured).toContain('event ca-generated');
    expect(captured).toContain('"_aws"');
    expect(captured).not.toMatch(/PRIVATE KEY/);
    // The detector finds a key when there is one to find.
    const [sample] = h.keys;
    expect(secretParts(sample ?? '').length).toBeGreaterThan(2);
    expect(secretParts(sample ?? '').some((part) => `${captured}${sample ?? ''}`.includes(part))).toBe(true);
    const leaks: string[] = [];
    for (const key of h.keys) {
      for (const part of secretParts(key)) if (captured.includes(part)) leaks.push(part.slice(0, 12));
    }
    expect(leaks).toEqual([]);

    // Every log line carries the Lambda request id, and the authority it is about (a refused event
    // may not name a valid one).
    const logs = output.lines().filter((line): line is Record<string, unknown> => typeof line === 'object' && line !== null && 'level' in line);
    expect(logs.length).toBeGreaterThan(50);
    for (const line of logs) {
      expect(line).toMatchObject({ function_request_id: like.string() });
      if (line.message !== 'invocation refused') expect(line).toMatchObject({ authority: 'cluster' });
    }
    expect(logs.filter((line) => line.message === 'invocation refused')).toHaveLength(3);
    const metrics = new Set(
      output
        .lines()
        .filter((line): line is Record<string, unknown> => typeof line === 'object' && line !== null && '_aws' in line)
        .flatMap((line) => Object.keys(line)),
    );
    for (const name of ['LeavesRenewed', 'CaRotationsStarted', 'CaRotationsCompleted', 'DaysToEarliestExpiry', 'RotationPhaseAgeHours', 'Failures']) {
      expect(metrics).toContain(name);
    }
  });
});
