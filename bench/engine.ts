/**
 * Engine benchmarks against the local endpoints: a scan of 10,000 inventoried leaves with 1% due
 * (API calls and time), and a full rotation of 1,000 leaves (API calls per leaf: what paces a
 * rotation on AWS; the old ratio to local issuance time is dropped, it measured the SDK's CPU).
 */
import { randomUUID } from 'node:crypto';
import { parseConfig, type CertrotateConfig } from '../lib/config/index.js';
import { runCommand } from '../lib/engine/commands.js';
import { tick } from '../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../lib/local/environment.js';
import { Issuer, generateCa } from '../lib/pki/index.js';
import { printTable } from './harness.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1);

export interface EngineBenchResult {
  scan10k: { leaves: number; due: number; apiCalls: number; ms: number };
  /** apiCalls: every Secrets Manager and DynamoDB call of the rotation (what paces it in AWS). */
  rotation1000: { leaves: number; rotationMs: number; issuanceMs: number; apiCalls: number; apiCallsPerLeaf: number; secretsManagerWrites: number };
}

function fleet(leaves: number, shortLived: number): CertrotateConfig {
  return parseConfig({
    // PEM CA keys, as these numbers have always been measured; bench/kms.ts measures KMS signing.
    authorities: [{ name: 'bench', caKeyStore: 'secret', caLifetimeDays: 365, rotationLeadDays: 30 }],
    leaves: Array.from({ length: leaves }, (_, i) => ({
      authority: 'bench',
      id: `leaf-${i}`,
      subject: `CN=leaf-${i}`,
      dnsNames: [`leaf-${i}.bench.local`],
      usage: 'both',
      lifetimeDays: i < shortLived ? 7 : 30,
    })),
  });
}

/** Counts every DynamoDB call (the local Secrets Manager counts its own). */
function countDynamoCalls(env: LocalEnvironment): { count: number } {
  const counter = { count: 0 };
  env.clients.dynamodb.middlewareStack.add(
    (next) => async (args) => {
      counter.count++;
      return next(args);
    },
    { step: 'initialize', name: 'benchCallCounter' },
  );
  return counter;
}

async function scan10k(progress: (line: string) => void): Promise<EngineBenchResult['scan10k']> {
  const leaves = 10_000;
  const due = leaves / 100;
  const env = await startLocalEnvironment();
  try {
    const config = fleet(leaves, due);
    const deps = env.deps(config);
    progress(`engine: issuing ${leaves} leaves for the scan benchmark`);
    await tick(deps, { now: T0, owner: randomUUID(), mode: 'reconcile' });
    const dynamo = countDynamoCalls(env);
    env.secretsManager.resetCalls();
    progress('engine: scan with 1% due');
    const start = performance.now();
    const [report] = await tick(deps, { now: T0 + 6 * DAY, owner: randomUUID(), mode: 'scan' });
    const ms = performance.now() - start;
    const secretsCalls = Object.values(env.secretsManager.calls()).reduce((a, b) => a + b, 0);
    if (report?.renewed.length !== due) throw new Error(`expected ${due} due leaves, renewed ${report?.renewed.length ?? 0}`);
    return { leaves, due, apiCalls: secretsCalls + dynamo.count, ms };
  } finally {
    await env.stop();
  }
}

async function rotation1000(progress: (line: string) => void): Promise<EngineBenchResult['rotation1000']> {
  const leaves = 1000;
  const config = fleet(leaves, 0);
  progress('engine: issuing 1,000 leaves with lib/pki alone');
  const ca = await generateCa({ authority: 'bench', generation: 1, now: T0, lifetimeMs: 365 * DAY });
  const issuer = Issuer.fromCaGeneration(ca);
  const issuanceStart = performance.now();
  for (const spec of config.leaves) {
    await issuer.issueLeaf({ subject: spec.subject, dnsNames: spec.dnsNames, usage: spec.usage, lifetimeMs: spec.lifetimeMs }, T0);
  }
  const issuanceMs = performance.now() - issuanceStart;

  const env = await startLocalEnvironment();
  try {
    const deps = env.deps(config);
    progress('engine: bootstrapping 1,000 leaves');
    await tick(deps, { now: T0, owner: randomUUID(), mode: 'reconcile' });
    await runCommand(env.state, 'bench', { kind: 'rotate-ca', requestId: 'bench', reason: 'benchmark', emergency: false }, T0 + HOUR);
    progress('engine: rotating 1,000 leaves');
    const dynamo = countDynamoCalls(env);
    env.secretsManager.resetCalls();
    let now = T0 + HOUR;
    const start = performance.now();
    for (let i = 0; i < 100; i++) {
      const [report] = await tick(deps, { now, owner: randomUUID(), mode: 'scan' });
      if (report?.state?.phase === 'Stable' && report.state.generation === 2) break;
      const last = report?.steps.at(-1);
      now = last?.kind === 'wait' && last.until !== undefined ? Math.max(last.until, now + 60_000) : now + 5 * 60_000;
    }
    const rotationMs = performance.now() - start;
    const calls = env.secretsManager.calls();
    const apiCalls = Object.values(calls).reduce((a, b) => a + b, 0) + dynamo.count;
    const secretsManagerWrites = ['PutSecretValue', 'CreateSecret', 'TagResource', 'UpdateSecretVersionStage', 'RestoreSecret'].reduce((sum, op) => sum + (calls[op] ?? 0), 0);
    const record = await env.state.readState('bench');
    if (record?.state.generation !== 2) throw new Error('the rotation did not finish');
    return { leaves, rotationMs, issuanceMs, apiCalls, apiCallsPerLeaf: apiCalls / leaves, secretsManagerWrites };
  } finally {
    await env.stop();
  }
}

/** `parts` picks scan10k and/or rotation1000 (both by default). */
export async function benchEngine(progress: (line: string) => void, parts: { scan10k: boolean; rotation1000: boolean } = { scan10k: true, rotation1000: true }): Promise<Partial<EngineBenchResult>> {
  const result: Partial<EngineBenchResult> = {};
  if (parts.scan10k) {
    const scan = await scan10k(progress);
    printTable('Scan of 10,000 inventoried leaves, 1% due (target: API calls <= 2 x due + 10)', ['leaves', 'due', 'API calls', 'budget', 'ms'], [
      [scan.leaves, scan.due, scan.apiCalls, 2 * scan.due + 10, scan.ms],
    ]);
    result.scan10k = scan;
  }
  if (parts.rotation1000) {
    const rotation = await rotation1000(progress);
    printTable('Full rotation of 1,000 leaves (target: API calls per leaf <= 3.3)', ['rotation ms', 'issuance ms', 'API calls', 'per leaf', 'SM writes'], [
      [rotation.rotationMs, rotation.issuanceMs, rotation.apiCalls, rotation.apiCallsPerLeaf, rotation.secretsManagerWrites],
    ]);
    result.rotation1000 = rotation;
  }
  return result;
}
