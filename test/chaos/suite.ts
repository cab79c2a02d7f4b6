/** Many chaos runs in one local environment (each run has its own authority), and their tally. */
import * as s3Sdk from '@aws-sdk/client-s3';
import { createAwsClients } from '../../lib/aws/clients.js';
import { PerAuthorityLeafStore } from '../../lib/aws/per-authority-leaf-store.js';
import { S3LeafStore } from '../../lib/aws/s3-leaf-store.js';
import { leafStoreOf } from '../../lib/config/index.js';
import { SecretsManagerCertificateStore } from '../../lib/aws/secrets-manager-store.js';
import { WriteLimiter } from '../../lib/aws/write-limiter.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { installCrashInjector } from '../support/crash.js';
import { chaosRun, type ChaosOptions, type ChaosOutcome } from './scenario.js';

export interface ChaosTally {
  runs: number;
  crashed: number;
  failures: ChaosOutcome[];
}

/** Runs `runs` scenarios with seeds derived from `seed`; `progress` is told after each run. */
export async function runChaos(
  runs: number,
  seed: number,
  progress: (done: number, tally: ChaosTally) => void = () => undefined,
  options: ChaosOptions = {},
): Promise<ChaosTally> {
  const env = await startLocalEnvironment({ leafBucket: options.leafStore === 's3' });
  const crash = installCrashInjector(env.clients, [], env.leafBucket?.client);
  // The invariant is read through clients of its own: looking is not one of the run's calls.
  const observerClients = createAwsClients({ region: env.secretsManager.region, credentials: env.secretsManager.credentials, endpoints: { secretsManager: env.secretsManager.endpoint }, maxAttempts: 1 });
  const secrets = new SecretsManagerCertificateStore({ client: observerClients.secretsManager, writeLimiter: new WriteLimiter({ writesPerSecond: 1000 }) });
  const bucket = env.leafBucket;
  const observerS3 = bucket === undefined ? undefined : new s3Sdk.S3Client({ region: bucket.s3.region, credentials: bucket.s3.credentials, endpoint: bucket.s3.endpoint, forcePathStyle: true, maxAttempts: 1 });
  const observer: LocalEnvironment = {
    ...env,
    certificates:
      bucket === undefined || observerS3 === undefined
        ? secrets
        : new PerAuthorityLeafStore({
            secrets,
            s3: new S3LeafStore({ s3: () => Promise.resolve({ sdk: s3Sdk, client: observerS3 }), bucket: bucket.bucket }),
            leafStoreOf: () => leafStoreOf(options),
          }),
  };
  const tally: ChaosTally = { runs: 0, crashed: 0, failures: [] };
  try {
    for (let i = 0; i < runs; i++) {
      const outcome = await chaosRun(env, observer, crash, seed * 100_003 + i, options);
      tally.runs++;
      if (outcome.crashedAt !== undefined) tally.crashed++;
      if (outcome.failure !== undefined) tally.failures.push(outcome);
      progress(i + 1, tally);
    }
  } finally {
    await crash.disarm();
    observerClients.destroy();
    observerS3?.destroy();
    await env.stop();
  }
  return tally;
}
