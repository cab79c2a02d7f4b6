/**
 * `reconcile100k`: the daily full reconcile of a large fleet (every leaf secret read and checked,
 * the inventory compared and repaired), through the production adapters and the real SDK clients,
 * against the local endpoints with Secrets Manager's quotas scaled by RECONCILE_QUOTA_SCALE.
 * The endpoints run in a process of their own (bench/fleet-endpoints.ts), seeded fast
 * (bench/fleet-seed.ts), so the heap measured is the reconcile's alone.
 * Fields: leaves; apiCalls (every Secrets Manager and DynamoDB request of the reconcile);
 * peakHeapMb (V8 heap in use, sampled every 20 ms, during the reconcile); baselineHeapMb (before
 * it: the configuration of every leaf, the clients); heapLimitMb (V8's limit for this process);
 * quotaScale; seedSeconds; ms.
 * Target: peakHeapMb <= 512. Run it under `node --max-old-space-size=512` for a hard limit.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { createAwsClients } from '../lib/aws/clients.js';
import { DynamoDbStateStore } from '../lib/aws/dynamodb-state-store.js';
import { SecretsManagerCertificateStore } from '../lib/aws/secrets-manager-store.js';
import { WriteLimiter } from '../lib/aws/write-limiter.js';
import { parseConfig } from '../lib/config/index.js';
import { consumerRegistry, secretConsumers } from '../lib/consumers/index.js';
import { tick } from '../lib/engine/tick.js';
import { parseRotationState, type RotationState } from '../lib/rotation/index.js';
import { printTable } from './harness.js';

const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;
/**
 * AWS's quotas times this (BatchGetSecretValue 100/s becomes 2,000/s): a read of 100,000 secrets
 * is 5,000 batched calls, 50 s at AWS's own rate; the local run is CPU-bound well below 2,000/s.
 */
export const RECONCILE_QUOTA_SCALE = 20;

export interface ReconcileResult {
  leaves: number;
  apiCalls: number;
  peakHeapMb: number;
  /** Heap in use before the reconcile (the configuration of every leaf, the clients). */
  baselineHeapMb: number;
  heapLimitMb: number;
  quotaScale: number;
  seedSeconds: number;
  ms: number;
}

interface Ready {
  secretsManager: string;
  dynamodb: string;
  tableName: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/** Starts the endpoints' process and waits for its seeded fleet. */
function startEndpoints(leaves: number): Promise<{ child: ChildProcess; ready: Ready }> {
  // The endpoints get no heap limit of ours: only this process is measured.
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--max-old-space-size'));
  const env = { ...process.env, NODE_OPTIONS: (process.env.NODE_OPTIONS ?? '').replace(/--max-old-space-size=\d+/g, '') };
  const child = fork(fileURLToPath(new URL('./fleet-endpoints.ts', import.meta.url)), [String(leaves), String(RECONCILE_QUOTA_SCALE), String(T0)], { execArgv, env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the endpoints' process exited (${code}) before it was ready`)));
    child.on('message', (message: { ready?: Ready }) => {
      if (message.ready !== undefined) resolve({ child, ready: message.ready });
    });
  });
}

function secretsManagerCalls(child: ChildProcess): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const answer = (message: { calls?: Record<string, number> }): void => {
      if (message.calls === undefined) return;
      child.off('message', answer);
      resolve(message.calls);
    };
    child.on('message', answer);
    child.send('calls');
  });
}

export async function reconcileFleet(progress: (line: string) => void, leaves: number): Promise<ReconcileResult> {
  if (!Number.isSafeInteger(leaves) || leaves < 1) throw new RangeError(`--reconcile-leaves must be a positive whole number, got ${leaves}`);
  progress(`reconcile: seeding ${leaves.toLocaleString('en-US')} leaves in the endpoints' process`);
  const seedStart = performance.now();
  const { child, ready } = await startEndpoints(leaves);
  const seedSeconds = (performance.now() - seedStart) / 1000;
  const clients = createAwsClients({ region: ready.region, credentials: ready.credentials, endpoints: { dynamodb: ready.dynamodb, secretsManager: ready.secretsManager } });
  try {
    const config = parseConfig({
      authorities: [{ name: 'bench', caKeyStore: 'secret', caLifetimeDays: 365, rotationLeadDays: 30 }],
      leaves: Array.from({ length: leaves }, (_, i) => ({ authority: 'bench', id: `leaf-${i}`, subject: `CN=leaf-${i}`, dnsNames: [`leaf-${i}.bench.local`], usage: 'server', lifetimeDays: 30 })),
    });
    const deps = {
      certificates: new SecretsManagerCertificateStore({
        client: clients.secretsManager,
        writeClient: clients.secretsManagerWrites,
        writeLimiter: new WriteLimiter({ writesPerSecond: 50 * RECONCILE_QUOTA_SCALE * 0.4, maxWritesPerSecond: 50 * RECONCILE_QUOTA_SCALE, maxInFlight: 32 }),
      }),
      state: new DynamoDbStateStore<RotationState>({ client: clients.dynamodb, tableName: ready.tableName, parseState: parseRotationState }),
      events: { emit: () => undefined },
      config,
      writeConcurrency: 16,
      consumers: consumerRegistry(secretConsumers()),
    };
    let dynamoCalls = 0;
    clients.dynamodb.middlewareStack.add(
      (next) => (args) => {
        dynamoCalls += 1;
        return next(args);
      },
      { step: 'initialize', name: 'benchReconcileCounter' },
    );
    const callsBefore = await secretsManagerCalls(child);
    globalThis.gc?.();
    const baseline = getHeapStatistics().used_heap_size;
    let peak = baseline;
    const timer = setInterval(() => {
      peak = Math.max(peak, getHeapStatistics().used_heap_size);
    }, 20);
    progress(`reconcile: the full reconcile of ${leaves.toLocaleString('en-US')} leaves`);
    const started = performance.now();
    const [report] = await tick(deps, { now: T0 + DAY, owner: randomUUID(), mode: 'reconcile' });
    const ms = performance.now() - started;
    clearInterval(timer);
    peak = Math.max(peak, getHeapStatistics().used_heap_size);
    if (report?.status.includes(`leaves ${leaves}/${leaves} from 1`) !== true) throw new Error(`the reconcile did not see every leaf from CA 1: ${report?.status ?? 'no report'}`);
    const callsAfter = await secretsManagerCalls(child);
    const secretsCalls = Object.entries(callsAfter).reduce((sum, [operation, count]) => sum + count - (callsBefore[operation] ?? 0), 0);
    const result = { leaves, apiCalls: secretsCalls + dynamoCalls, peakHeapMb: peak / 1_048_576, baselineHeapMb: baseline / 1_048_576, heapLimitMb: getHeapStatistics().heap_size_limit / 1_048_576, quotaScale: RECONCILE_QUOTA_SCALE, seedSeconds, ms };
    printTable(`Full reconcile of ${leaves.toLocaleString('en-US')} leaves (target: peak heap <= 512 MB)`, ['leaves', 'API calls', 'baseline heap MB', 'peak heap MB', 'seed s', 'ms'], [
      [result.leaves, result.apiCalls, result.baselineHeapMb, result.peakHeapMb, result.seedSeconds, result.ms],
    ]);
    return result;
  } finally {
    clients.destroy();
    child.send('stop');
  }
}
