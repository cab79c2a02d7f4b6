/**
 * Leaf issuance with the CA key in KMS (the local KMS endpoint, through the production adapter and
 * the real SDK client: one signed HTTP round trip per leaf) next to issuance with a local key. The
 * local endpoint signs digests in process, so the gap is the protocol's cost, not AWS's latency
 * (a real Sign adds a network round trip, typically milliseconds, and is paced at
 * KMS_CALLS_PER_SECOND per function).
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { KmsCaKeys } from '../lib/aws/kms-ca-keys.js';
import { WriteLimiter } from '../lib/aws/write-limiter.js';
import { startLocalKms } from '../lib/local/kms-server.js';
import { Issuer, generateCa, selfSignCa, type KeyAlgorithm } from '../lib/pki/index.js';
import { measure, printTable } from './harness.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 1);
const ALGORITHMS: KeyAlgorithm[] = ['p256', 'p384', 'rsa2048'];

export interface KmsIssuanceResult {
  algorithm: KeyAlgorithm;
  localKeyLeavesPerSecond: number;
  kmsLeavesPerSecond: number;
  /** How many times slower a KMS-signed leaf is. */
  slowdown: number;
}

export async function benchKms(progress: (line: string) => void): Promise<KmsIssuanceResult[]> {
  const kms = await startLocalKms();
  const client = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials });
  const keys = new KmsCaKeys({ client: () => Promise.resolve(client), limiter: new WriteLimiter({ writesPerSecond: 100_000, burst: 1000 }) });
  const request = { subject: 'CN=bench.example', dnsNames: ['bench.example'], usage: 'both', lifetimeMs: 30 * DAY } as const;
  const results: KmsIssuanceResult[] = [];
  try {
    for (const [index, algorithm] of ALGORITHMS.entries()) {
      progress(`kms: ${algorithm}`);
      const local = Issuer.fromCaGeneration(await generateCa({ authority: 'bench', generation: index + 1, algorithm, now: NOW, lifetimeMs: 365 * DAY }));
      const { signer } = await keys.keyFor('bench', index + 1, algorithm);
      const remote = new Issuer(await selfSignCa({ authority: 'bench', generation: index + 1, now: NOW, lifetimeMs: 365 * DAY }, signer), signer);
      // The leaf's own key is P-256 either way: only the CA's signature differs.
      const localRun = await measure(`${algorithm} leaf, local CA key`, () => local.issueLeaf({ ...request, algorithm: 'p256' }, NOW));
      const kmsRun = await measure(`${algorithm} leaf, CA key in local KMS`, () => remote.issueLeaf({ ...request, algorithm: 'p256' }, NOW));
      results.push({ algorithm, localKeyLeavesPerSecond: localRun.opsPerSecond, kmsLeavesPerSecond: kmsRun.opsPerSecond, slowdown: localRun.opsPerSecond / kmsRun.opsPerSecond });
    }
  } finally {
    client.destroy();
    await kms.stop();
  }
  printTable(
    'Leaf issuance: CA key local vs in KMS (local endpoint, real SDK and wire protocol; P-256 leaf keys)',
    ['CA algorithm', 'local key leaves/s', 'KMS leaves/s', 'slowdown x'],
    results.map((r) => [r.algorithm, r.localKeyLeavesPerSecond, r.kmsLeavesPerSecond, r.slowdown]),
  );
  return results;
}
