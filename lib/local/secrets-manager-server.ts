/**
 * A small in-memory Secrets Manager that speaks the real JSON 1.1 wire protocol (POST /,
 * `X-Amz-Target: secretsmanager.<Operation>`, SigV4-signed), so that the real
 * `SecretsManagerClient` and our production adapter run unchanged against it. It implements the
 * operations certrotate uses, with the semantics that matter to it: version stages, idempotent
 * ClientRequestTokens, scheduled deletion, tag filters, pagination, the real error shapes.
 */
import { LOCAL_CREDENTIALS } from './kit/aws-error.js';
import type { Json } from './kit/json-protocol.js';
import { startLocalService, type InjectedFault, type LocalService } from './kit/local-service.js';
import { SecretsManagerBackend } from './secrets-manager/backend.js';
import { RequestQuotas, type QuotaCounters, type QuotaOptions } from './secrets-manager/quotas.js';
import { restoreSecrets, snapshotSecrets, type SecretsSnapshot } from './secrets-manager/snapshot.js';

export type { InjectedFault } from './kit/local-service.js';

export interface LocalSecretsManagerOptions {
  port?: number;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /**
   * Called for every authenticated request before it runs; a returned fault is answered instead
   * (and the operation does not run). Tests use it to inject throttling for the next N calls.
   */
  faults?: (operation: string, input: unknown) => InjectedFault | undefined;
  /** Clock for created/changed dates and scheduled deletion, epoch ms. Defaults to the wall clock. */
  now?: () => number;
  /**
   * AWS's request quotas (secrets-manager/quotas.ts), scaled; unset means no quota. Always paced on
   * the wall clock, whatever `now` says.
   */
  quotas?: QuotaOptions;
  /** Milliseconds every authenticated request waits before it runs (network and service time). */
  latencyMs?: number;
  /** Secrets to start with: a `snapshot()` taken earlier (the sandbox resumes from disk). */
  restore?: SecretsSnapshot;
}

export interface LocalSecretsManager extends LocalService {
  /** Throttled requests and admitted writes per wall-clock second, since start or the last reset. */
  quotaCounts(): QuotaCounters;
  /** Replaces the quotas (undefined: none), e.g. to set up a fleet quickly and then measure under AWS's. */
  setQuotas(quotas: QuotaOptions | undefined): void;
  /** Every secret, its versions and stages, as JSON-safe data for `restore`. */
  snapshot(): SecretsSnapshot;
}

const MAX_BODY_BYTES = 1_048_576;

export async function startLocalSecretsManager(options: LocalSecretsManagerOptions = {}): Promise<LocalSecretsManager> {
  const region = options.region ?? 'us-east-1';
  const now = options.now ?? Date.now;
  const backend = new SecretsManagerBackend(region, now);
  if (options.restore !== undefined) backend.importSecrets(restoreSecrets(options.restore));
  let quotas = options.quotas === undefined ? undefined : new RequestQuotas(options.quotas);
  const latencyMs = options.latencyMs ?? 0;
  const runNow = (operation: string, input: Json): Json => {
    quotas?.admit(operation, Date.now());
    backend.purgeExpired();
    return backend.run(operation, input);
  };
  const service = await startLocalService({
    service: 'secretsmanager',
    targetPrefix: 'secretsmanager.',
    region,
    credentials: {
      accessKeyId: options.accessKeyId ?? LOCAL_CREDENTIALS.accessKeyId,
      secretAccessKey: options.secretAccessKey ?? LOCAL_CREDENTIALS.secretAccessKey,
    },
    now,
    maxBodyBytes: MAX_BODY_BYTES,
    internalError: 'InternalServiceError',
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.faults === undefined ? {} : { faults: options.faults }),
    run: (operation, input) => {
      if (latencyMs <= 0) return runNow(operation, input);
      return new Promise((resolve) => setTimeout(resolve, latencyMs)).then(() => runNow(operation, input));
    },
  });
  return {
    ...service,
    quotaCounts: () => quotas?.counts() ?? { throttled: {}, writesPerSecond: new Map(), admittedPerSecond: new Map() },
    resetCalls: () => {
      service.resetCalls();
      quotas?.reset();
    },
    setQuotas: (next) => {
      quotas = next === undefined ? undefined : new RequestQuotas(next);
    },
    snapshot: () => snapshotSecrets(backend.exportSecrets()),
  };
}
