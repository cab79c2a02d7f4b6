/**
 * `reconcile100k`: the daily full reconcile of a large fleet (every leaf secret read and checked,
 * the inventory repaired), against the local endpoints with the quotas scaled as in `npm start`.
 * Fields: leaves; apiCalls (every Secrets Manager and DynamoDB request of the reconcile);
 * peakHeapMb (V8 heap sampled every 50 ms, the in-process local endpoints included, which hold
 * every secret: an upper bound on what the engine alone needs); ms. Target: peakHeapMb <= 512.
 */
import { randomUUID } from 'node:crypto';
import { getHeapStatistics } from 'node:v8';
import { parseConfig } from '../lib/config/index.js';
import { tick } from '../lib/engine/tick.js';
import { startLocalEnvironment } from '../lib/local/environment.js';
import { printTable } from './harness.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

export interface ReconcileResult {
  leaves: number;
  apiCalls: number;
  peakHeapMb: number;
  /** Heap in use before the reconcile (the endpoints' copy of the fleet, the configuration). */
  baselineHeapMb: number;
  ms: number;
}

export async function reconcileFleet(progress: (line: string) => void, leaves: number): Promise<ReconcileResult> {
  if (!Number.isSafeInteger(leaves) || leaves < 1) throw new RangeError(`--reconcile-leaves must be a positive whole number, got ${leaves}`);
  const config = parseConfig({
    // PEM CA keys, as these numbers have always been measured; bench/kms.ts measures KMS signing.
    authorities: [{ name: 'bench', caKeyStore: 'secret', caLifetimeDays: 365, rotationLeadDays: 30 }],
    leaves: Array.from({ length: leaves }, (_, i) => ({ authority: 'bench', id: `leaf-${i}`, subject: `CN=leaf-${i}`, dnsNames: [`leaf-${i}.bench.local`], usage: 'server', lifetimeDays: 30 })),
  });
  const env = await startLocalEnvironment({ quotaScale: false });
  try {
    progress(`reconcile: issuing ${leaves.toLocaleString('en-US')} leaves (no quota while setting up)`);
    await tick(env.deps(config), { now: T0, owner: randomUUID(), mode: 'reconcile' });
    env.secretsManager.setQuotas({ scale: 20 });
    let dynamoCalls = 0;
    env.clients.dynamodb.middlewareStack.add(
      (next) => (args) => {
        dynamoCalls += 1;
        return next(args);
      },
      { step: 'initialize', name: 'benchReconcileCounter' },
    );
    env.secretsManager.resetCalls();
    globalThis.gc?.();
    const baseline = getHeapStatistics().used_heap_size;
    let peak = baseline;
    const timer = setInterval(() => {
      peak = Math.max(peak, getHeapStatistics().used_heap_size);
    }, 50);
    progress(`reconcile: the full reconcile of ${leaves.toLocaleString('en-US')} leaves`);
    const started = performance.now();
    await tick(env.deps(config), { now: T0 + DAY, owner: randomUUID(), mode: 'reconcile' });
    const ms = performance.now() - started;
    clearInterval(timer);
    const apiCalls = Object.values(env.secretsManager.calls()).reduce((a, b) => a + b, 0) + dynamoCalls;
    const result = { leaves, apiCalls, peakHeapMb: peak / 1_048_576, baselineHeapMb: baseline / 1_048_576, ms };
    printTable(`Full reconcile of ${leaves.toLocaleString('en-US')} leaves (target: peak heap <= 512 MB)`, ['leaves', 'API calls', 'baseline heap MB', 'peak heap MB', 'ms'], [
      [result.leaves, result.apiCalls, result.baselineHeapMb, result.peakHeapMb, result.ms],
    ]);
    return result;
  } finally {
    await env.stop();
  }
}
