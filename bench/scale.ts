/**
 * Pace under AWS's Secrets Manager write quota, against the quota-enforcing local endpoint
 * (lib/local/secrets-manager/quotas.ts) with every quota, reads included, scaled by `QUOTA_SCALE`
 * (stated in every result as writeQuotaPerSecond):
 * - `scale`: a CA rotation of 10,000 leaves, one run (one write limiter) at a time.
 * - `scaleParallel`: an hourly scan renewing 1,000 due leaves of one authority while an advance
 *   migrates the 5,000 leaves of another, two runs with their own limiters (two Lambdas) sharing
 *   one quota.
 * Each limiter starts at 40% of the quota (as a Lambda starts at 20/s of AWS's 50/s) and adapts.
 * Fields: leaves; writes (write requests the endpoint admitted during the measured part);
 * writeQuotaPerSecond; achievedWritesPerSecond (writes / wall seconds of the measured part);
 * peakWritesInOneSecond (the most admitted in one clock second: never above the quota);
 * throttled (requests refused with ThrottlingException, each retried); lostWrites (writes given
 * up on, plus leaves not on the new CA or not renewed at the end: 0 means nothing was dropped);
 * peakHeapMb (V8 heap, sampled every 50 ms, endpoints included: they run in this process, so it
 * bounds what the engine needs from above); heapLimitMb (V8's heap limit: run under
 * `--max-old-space-size=512` it is 512 plus the young generation, and finishing is the hard proof).
 */
import { randomUUID } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import { secretsManagerReadLimiters } from '../lib/aws/read-limiters.js';
import { SecretsManagerCertificateStore } from '../lib/aws/secrets-manager-store.js';
import { WriteLimiter } from '../lib/aws/write-limiter.js';
import { parseConfig, type CertrotateConfig } from '../lib/config/index.js';
import { runCommand } from '../lib/engine/commands.js';
import type { EngineDeps } from '../lib/engine/deps.js';
import { authorityStatus } from '../lib/engine/status.js';
import { tick } from '../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../lib/local/environment.js';
import { printTable } from './harness.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1);
/**
 * AWS's 50 writes/s times this: 1, the real quota. At 100/s the pipeline behind the writes (issuing,
 * reading back, the endpoint itself, all in this process) bound the pace on a shared 2-core machine
 * and the bench measured that rather than the limiter; at 50/s it is the quota that binds.
 */
export const QUOTA_SCALE = 1;
const WRITE_QUOTA = 50 * QUOTA_SCALE;

export interface ScaleResult {
  leaves: number;
  writes: number;
  writeQuotaPerSecond: number;
  achievedWritesPerSecond: number;
  peakWritesInOneSecond: number;
  throttled: number;
  lostWrites: number;
  peakHeapMb: number;
  heapLimitMb: number;
  seconds: number;
}

function fleet(groups: Array<{ authority: string; leaves: number; lifetimeDays: number }>): CertrotateConfig {
  return parseConfig({
    // PEM CA keys: this bench measures Secrets Manager write pacing (bench/kms.ts measures KMS signing).
    authorities: groups.map((group) => ({ name: group.authority, caKeyStore: 'secret', caLifetimeDays: 365, rotationLeadDays: 30 })),
    leaves: groups.flatMap((group) =>
      Array.from({ length: group.leaves }, (_, i) => ({
        authority: group.authority,
        id: `leaf-${i}`,
        subject: `CN=leaf-${i}`,
        dnsNames: [`leaf-${i}.${group.authority}.local`],
        usage: 'both',
        lifetimeDays: group.lifetimeDays,
      })),
    ),
  });
}

/**
 * Engine deps with a store and limiters of their own, as one Lambda has: the write limiter, and the
 * read limiters at the endpoint's read quotas (AWS's x QUOTA_SCALE), which pace and retry the reads.
 */
function runDeps(env: LocalEnvironment, config: CertrotateConfig): { deps: EngineDeps; limiter: WriteLimiter } {
  const limiter = new WriteLimiter({ writesPerSecond: WRITE_QUOTA * 0.4, maxWritesPerSecond: WRITE_QUOTA, maxInFlight: 32 });
  const certificates = new SecretsManagerCertificateStore({ client: env.clients.secretsManager, writeClient: env.clients.secretsManagerWrites, writeLimiter: limiter, readLimiters: secretsManagerReadLimiters(QUOTA_SCALE) });
  return { deps: { ...env.deps(config), certificates, writeConcurrency: 32 }, limiter };
}

function heapSampler(): { stop: () => number } {
  let peak = getHeapStatistics().used_heap_size;
  const timer = setInterval(() => {
    peak = Math.max(peak, getHeapStatistics().used_heap_size);
  }, 50);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, getHeapStatistics().used_heap_size) / 1_048_576;
    },
  };
}

/** Ticks an authority's rotation to its end (scan mode, the 5-minute advance), on a simulated clock. */
async function rotate(deps: EngineDeps, authority: string, start: number): Promise<void> {
  let now = start;
  for (let i = 0; i < 200; i++) {
    const [report] = await tick(deps, { now, owner: randomUUID(), mode: 'scan', authorities: [authority] });
    if (report?.state?.phase === 'Stable' && report.state.generation === 2) return;
    const last = report?.steps.at(-1);
    now = last?.kind === 'wait' && last.until !== undefined ? Math.max(last.until, now + 60_000) : now + 5 * 60_000;
  }
  throw new Error(`the rotation of ${authority} did not finish`);
}

async function measured(env: LocalEnvironment, leaves: number, limiters: WriteLimiter[], work: () => Promise<number>): Promise<ScaleResult> {
  env.secretsManager.resetCalls();
  env.secretsManager.setQuotas({ scale: QUOTA_SCALE });
  const heap = heapSampler();
  const started = performance.now();
  const unfinished = await work();
  const seconds = (performance.now() - started) / 1000;
  const peakHeapMb = heap.stop();
  const counts = env.secretsManager.quotaCounts();
  const perSecond = [...counts.writesPerSecond.values()];
  const writes = perSecond.reduce((a, b) => a + b, 0);
  const failed = limiters.reduce((sum, limiter) => sum + limiter.stats().failed, 0);
  return {
    leaves,
    writes,
    writeQuotaPerSecond: WRITE_QUOTA,
    achievedWritesPerSecond: writes / seconds,
    peakWritesInOneSecond: Math.max(0, ...perSecond),
    throttled: Object.values(counts.throttled).reduce((a, b) => a + b, 0),
    lostWrites: failed + unfinished,
    peakHeapMb,
    heapLimitMb: getHeapStatistics().heap_size_limit / 1_048_576,
    seconds,
  };
}

export async function scaleRotation(progress: (line: string) => void, leaves = 10_000): Promise<ScaleResult> {
  const config = fleet([{ authority: 'bench', leaves, lifetimeDays: 30 }]);
  // Set up without a quota: only the rotation is measured.
  const env = await startLocalEnvironment({ quotaScale: false });
  try {
    const { deps, limiter } = runDeps(env, config);
    progress(`scale: issuing ${leaves.toLocaleString('en-US')} leaves (no quota while setting up)`);
    await tick(env.deps(config), { now: T0, owner: randomUUID(), mode: 'reconcile' });
    await runCommand(env.state, 'bench', { kind: 'rotate-ca', requestId: 'bench', reason: 'benchmark', emergency: false }, T0 + HOUR);
    progress(`scale: rotating ${leaves.toLocaleString('en-US')} leaves under a write quota of ${WRITE_QUOTA}/s`);
    const [authority] = config.authorities;
    if (authority === undefined) throw new Error('no authority');
    return await measured(env, leaves, [limiter], async () => {
      await rotate(deps, 'bench', T0 + HOUR);
      const status = await authorityStatus(deps, authority, T0 + 30 * DAY, { deep: true });
      return leaves - status.leaves.fromSigner;
    });
  } finally {
    await env.stop();
  }
}

export async function scaleParallel(progress: (line: string) => void, renewing = 1000, migrating = 5000): Promise<ScaleResult> {
  // `renew`'s leaves live 7 days (all due on day 6.5); `migrate` rotates its CA meanwhile.
  const config = fleet([
    { authority: 'renew', leaves: renewing, lifetimeDays: 7 },
    { authority: 'migrate', leaves: migrating, lifetimeDays: 30 },
  ]);
  const env = await startLocalEnvironment({ quotaScale: false });
  try {
    progress(`scaleParallel: issuing ${(renewing + migrating).toLocaleString('en-US')} leaves (no quota while setting up)`);
    await tick(env.deps(config), { now: T0, owner: randomUUID(), mode: 'reconcile' });
    const start = T0 + 6.5 * DAY;
    await runCommand(env.state, 'migrate', { kind: 'rotate-ca', requestId: 'bench', reason: 'benchmark', emergency: false }, start);
    const scan = runDeps(env, config);
    const advance = runDeps(env, config);
    progress(`scaleParallel: renewing ${renewing} while migrating ${migrating}, sharing ${WRITE_QUOTA} writes/s`);
    return await measured(env, renewing + migrating, [scan.limiter, advance.limiter], async () => {
      const [renewed] = await Promise.all([
        tick(scan.deps, { now: start + HOUR, owner: randomUUID(), mode: 'scan', authorities: ['renew'] }),
        rotate(advance.deps, 'migrate', start + HOUR),
      ]);
      const migrate = config.authorities.find((a) => a.name === 'migrate');
      if (migrate === undefined) throw new Error('no authority');
      const status = await authorityStatus(advance.deps, migrate, start + 30 * DAY, { deep: true });
      return migrating - status.leaves.fromSigner + (renewing - (renewed[0]?.renewed.length ?? 0));
    });
  } finally {
    await env.stop();
  }
}

export function printScale(name: string, result: ScaleResult): void {
  printTable(`${name}: ${result.leaves.toLocaleString('en-US')} leaves under a write quota of ${result.writeQuotaPerSecond}/s (AWS's 50/s x ${QUOTA_SCALE}; reads at AWS's quotas x ${QUOTA_SCALE})`, ['writes', 'quota/s', 'achieved/s', 'peak in 1 s', 'throttled', 'lost', 'peak heap MB', 'seconds'], [
    [result.writes, result.writeQuotaPerSecond, result.achievedWritesPerSecond, result.peakWritesInOneSecond, result.throttled, result.lostWrites, result.peakHeapMb, result.seconds],
  ]);
}
