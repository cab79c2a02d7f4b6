/**
 * The pace of Secrets Manager reads: one adaptive limiter (lib/aws/write-limiter.ts, the same AIMD
 * mechanism as the writes) per read quota group, at AWS's documented per-second quotas
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html; the local
 * endpoint enforces the same groups, lib/local/secrets-manager/quotas.ts):
 * - BatchGetSecretValue: 100/s (readLeaves, 20 leaves a call)
 * - GetSecretValue and DescribeSecret: 10,000/s combined (CAs, bundles, one secret before a write)
 * - ListSecrets: 100/s (listing CA generations and leaf ids)
 * Each quota is per account and region and shared with every other reader (the hourly scan, the
 * 5-minute advance, an operator's renew, other software): a limiter starts at half its quota, rises
 * while reads land and cuts its rate when throttled, and a throttled read is retried with backoff
 * until it lands, so a run never fails, nor drops a leaf, because of throttling alone.
 */
import { WriteLimiter } from './write-limiter.js';

/** AWS's read quotas, requests per second per account and region. */
export const SECRETS_MANAGER_READ_QUOTAS = { batchGet: 100, reads: 10_000, list: 100 } as const;

export type ReadQuotaGroup = keyof typeof SECRETS_MANAGER_READ_QUOTAS;

/** One limiter per read quota group. */
export type SecretsManagerReadLimiters = Record<ReadQuotaGroup, WriteLimiter>;

/** Reads outstanding at once per group: enough to fill the quota at ~100 ms a call, no more. */
const IN_FLIGHT: Record<ReadQuotaGroup, number> = { batchGet: 16, reads: 64, list: 4 };

/**
 * Attempts per read while throttled. More than a write's 10: a read that gives up fails the run,
 * and readers share their quota with everything in the account; the backoff (doubling from 100 ms
 * to 20 s, with full jitter) lets the others' pace settle first.
 */
export const READ_MAX_ATTEMPTS = 16;
/** Attempts per read while it fails transiently (5xx, timeouts): the SDK's standard 4, as every other call has. */
export const READ_MAX_TRANSIENT_ATTEMPTS = 4;

/**
 * Limiters for one run (one Lambda sandbox) at AWS's read quotas times `scale` (1 on AWS; the
 * local endpoint's factor when it enforces scaled quotas).
 */
export function secretsManagerReadLimiters(scale = 1): SecretsManagerReadLimiters {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`read quota scale must be a positive number, got ${scale}`);
  const limiter = (group: ReadQuotaGroup): WriteLimiter => {
    const quota = Math.max(1, SECRETS_MANAGER_READ_QUOTAS[group] * scale);
    return new WriteLimiter({ writesPerSecond: quota / 2, maxWritesPerSecond: quota, maxInFlight: IN_FLIGHT[group], maxAttempts: READ_MAX_ATTEMPTS, maxTransientAttempts: READ_MAX_TRANSIENT_ATTEMPTS });
  };
  return { batchGet: limiter('batchGet'), reads: limiter('reads'), list: limiter('list') };
}
