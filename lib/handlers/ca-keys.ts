/**
 * The functions' KMS CA keys: the adapter over a KMS client that is created (and its SDK loaded)
 * only when a CA key is first used, so a deployment whose authorities keep PEM keys never loads it.
 */
import { KmsCaKeys } from '../aws/kms-ca-keys.js';
import { kmsClientSource } from '../aws/kms-client.js';
import { WriteLimiter } from '../aws/write-limiter.js';
import type { CaKeyService } from '../ports.js';
import type { HandlerEnv } from './env.js';

/**
 * KMS calls per second per function. Sign is the one that adds up (one per leaf); AWS's
 * asymmetric-signing quotas are shared by the account and region (see the KMS quotas page), so a
 * function stays well under them and backs off when throttled.
 */
export const KMS_CALLS_PER_SECOND = 50;

export function caKeysFor(env: HandlerEnv, credentials?: { accessKeyId: string; secretAccessKey: string }): CaKeyService {
  const source = kmsClientSource({
    region: env.region,
    ...(credentials === undefined ? {} : { credentials }),
    ...(env.endpoints.kms === undefined ? {} : { endpoint: env.endpoints.kms }),
  });
  return new KmsCaKeys({
    client: () => source.client(),
    prefix: env.secretPrefix,
    ...(env.caKeyPolicy === undefined ? {} : { keyPolicy: env.caKeyPolicy }),
    limiter: new WriteLimiter({ writesPerSecond: KMS_CALLS_PER_SECOND, burst: 10 }),
  });
}
