/**
 * Reads paced under AWS's own read quotas (issue 17): two reconciles and six deep statuses at once,
 * each a Lambda (or an operator's CLI) with a store and limiters of its own, against the local
 * Secrets Manager enforcing the real quotas (factor 1: BatchGetSecretValue 100/s, ListSecrets
 * 100/s, GetSecretValue and DescribeSecret 10,000/s). Before reads had limiters, a batch was
 * throttled past the SDK's four attempts and the run failed with ThrottlingException.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type CertrotateConfig } from '../../lib/config/index.js';
import { secretsManagerReadLimiters } from '../../lib/aws/read-limiters.js';
import { SecretsManagerCertificateStore } from '../../lib/aws/secrets-manager-store.js';
import { WriteLimiter } from '../../lib/aws/write-limiter.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { authorityStatus } from '../../lib/engine/status.js';
import { tick } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { SECRETS_MANAGER_QUOTAS } from '../../lib/local/secrets-manager/quotas.js';
import type { CertificateStore } from '../../lib/ports.js';

const T0 = Date.UTC(2026, 0, 1);
const PER_AUTHORITY = 1_500;
const AUTHORITIES = ['east', 'west'];
/** Deep statuses of each authority run during its reconcile (operators, dashboards). */
const OPERATORS = 3;

function config(): CertrotateConfig {
  return parseConfig({
    authorities: AUTHORITIES.map((name) => ({ name, caKeyStore: 'secret', caLifetimeDays: 365, rotationLeadDays: 30 })),
    leaves: AUTHORITIES.flatMap((authority) =>
      Array.from({ length: PER_AUTHORITY }, (_, i) => ({ authority, id: `leaf-${i}`, subject: `CN=leaf-${i}`, dnsNames: [`leaf-${i}.${authority}.local`], usage: 'server', lifetimeDays: 30 })),
    ),
  });
}

/** One Lambda's store: its own write and read limiters at AWS's quotas, counting the leaves its reads return. */
function lambdaDeps(env: LocalEnvironment, fleet: CertrotateConfig): { deps: EngineDeps; leavesRead: Set<string> } {
  const store = new SecretsManagerCertificateStore({
    client: env.clients.secretsManager,
    writeClient: env.clients.secretsManagerWrites,
    writeLimiter: new WriteLimiter({ writesPerSecond: 20, maxWritesPerSecond: 50 }),
    readLimiters: secretsManagerReadLimiters(),
  });
  const leavesRead = new Set<string>();
  const certificates: CertificateStore = Object.assign(Object.create(store) as SecretsManagerCertificateStore, {
    async readLeaves(authority: string, ids: readonly string[]) {
      const read = await store.readLeaves(authority, ids);
      for (const leaf of read.leaves) leavesRead.add(`${authority}/${leaf.id}`);
      return read;
    },
  });
  return { deps: { ...env.deps(fleet), certificates }, leavesRead };
}

let env: LocalEnvironment;
const fleet = config();

function authorityConfig(name: string): CertrotateConfig['authorities'][number] {
  const found = fleet.authorities.find((authority) => authority.name === name);
  if (found === undefined) throw new Error(`no authority ${name}`);
  return found;
}

beforeAll(async () => {
  // Set up without a quota: only the reconciles are measured.
  env = await startLocalEnvironment({ quotaScale: false });
  await tick(env.deps(fleet), { now: T0, owner: 'bootstrap', mode: 'reconcile' });
}, 120_000);
afterAll(() => env.stop());

describe('reads under AWS read quotas', () => {
  it('two reconciles of 1,500 leaves each and three deep statuses of each (operators checking), all at once at the real quotas, read every leaf, fail nothing and stay within every quota', async () => {
    env.secretsManager.resetCalls();
    env.secretsManager.setQuotas({ scale: 1 });
    const now = T0 + 3_600_000;
    const runs = AUTHORITIES.map((authority) => ({ authority, ...lambdaDeps(env, fleet) }));
    const operators = AUTHORITIES.flatMap((authority) => Array.from({ length: OPERATORS }, () => ({ authority, ...lambdaDeps(env, fleet) })));
    const [reports, statuses] = await Promise.all([
      Promise.all(runs.map((run) => tick(run.deps, { now, owner: `reconcile-${run.authority}`, mode: 'reconcile', authorities: [run.authority] }))),
      Promise.all(operators.map((operator) => authorityStatus(operator.deps, authorityConfig(operator.authority), now, { deep: true }))),
    ]);

    for (const [i, operator] of operators.entries()) {
      expect(statuses[i]?.source).toBe('secrets');
      expect(operator.leavesRead.size).toBe(PER_AUTHORITY);
    }
    for (const [i, run] of runs.entries()) {
      const report = reports[i]?.[0];
      expect(report?.skipped).toBeUndefined();
      expect(report?.state?.phase).toBe('Stable');
      expect(run.leavesRead.size).toBe(PER_AUTHORITY);
      expect([...run.leavesRead].every((key) => key.startsWith(`${run.authority}/`))).toBe(true);
    }
    const counts = env.secretsManager.quotaCounts();
    // The readers met the quota (eight limiters starting at half of it each) and lost nothing:
    // refused batches were sent again, on top of each reader's 75.
    const refused = counts.throttled['BatchGetSecretValue'] ?? 0;
    expect(refused).toBeGreaterThan(0);
    expect(env.secretsManager.calls()['BatchGetSecretValue']).toBe((runs.length + operators.length) * (PER_AUTHORITY / 20) + refused);
    for (const [group, perSecond] of counts.admittedPerSecond) {
      const quota = SECRETS_MANAGER_QUOTAS[group]?.perSecond ?? 0;
      expect(Math.max(...perSecond.values()), group).toBeLessThanOrEqual(quota);
    }
  }, 60_000);
});
