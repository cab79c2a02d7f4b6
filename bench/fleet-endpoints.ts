/**
 * The local endpoints of `reconcile100k`, in a process of their own so that the heap the benchmark
 * measures is the reconcile's, not the endpoints' copy of 100,000 secrets. Started with
 * child_process.fork by bench/reconcile.ts: seeds the fleet (bench/fleet-seed.ts), answers with
 * `{ ready: { secretsManager, dynamodb, tableName, region, credentials } }`, then with
 * `{ calls }` (the Secrets Manager requests since the seed) when sent `calls`, and exits on `stop`.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { parseConfig } from '../lib/config/index.js';
import { tick } from '../lib/engine/tick.js';
import { startLocalEnvironment } from '../lib/local/environment.js';
import { startLocalSecretsManager } from '../lib/local/secrets-manager-server.js';
import { parseCertificate } from '../lib/pki/index.js';
import { LeafCloner, seedLeaves } from './fleet-seed.js';

const [leavesArg, quotaArg, nowArg] = process.argv.slice(2);
const leaves = Number(leavesArg);
const quotaScale = Number(quotaArg);
const now = Number(nowArg);
const send = (message: unknown): void => {
  process.send?.(message);
};

const ids = Array.from({ length: leaves }, (_, i) => `leaf-${i}`);
const config = parseConfig({
  authorities: [{ name: 'bench', caKeyStore: 'secret', caLifetimeDays: 365, rotationLeadDays: 30 }],
  leaves: [{ authority: 'bench', id: 'leaf-0', subject: 'CN=leaf-0', dnsNames: ['leaf-0.bench.local'], usage: 'server', lifetimeDays: 30 }],
});
const env = await startLocalEnvironment({ quotaScale: false });
await tick(env.deps(config), { now, owner: randomUUID(), mode: 'reconcile' });
const ca = await env.certificates.readCa('bench', 1);
const { leaves: [template] } = await env.certificates.readLeaves('bench', ['leaf-0']);
if (ca?.privateKeyPem === undefined || template === undefined) throw new Error('the bootstrap left no CA key or no leaf-0');
const cloner = new LeafCloner(template.certificatePem, ca.privateKeyPem);
const seeded = seedLeaves(
  env.secretsManager.snapshot(),
  { name: env.secrets.leafSecretName('bench', 'leaf-0'), leafId: 'leaf-0', cloner, notAfter: parseCertificate(template.certificatePem).notAfter },
  ids.slice(1),
  config,
);
for (let i = 0; i < seeded.rows.length; i += 1000) await env.state.putLeafRows(seeded.rows.slice(i, i + 1000));
const secretsManager = await startLocalSecretsManager({ restore: seeded.snapshot, quotas: { scale: quotaScale }, region: env.secretsManager.region });
send({
  ready: {
    secretsManager: secretsManager.endpoint,
    dynamodb: env.endpoints.dynamodb,
    tableName: env.tableName,
    region: secretsManager.region,
    credentials: secretsManager.credentials,
  },
});
process.on('message', (message) => {
  if (message === 'calls') send({ calls: secretsManager.calls() });
  if (message === 'stop') {
    void Promise.all([secretsManager.stop(), env.stop()]).then(() => process.exit(0));
  }
});
