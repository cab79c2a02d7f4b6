/**
 * A small in-memory Secrets Manager that speaks the real JSON 1.1 wire protocol (POST /,
 * `X-Amz-Target: secretsmanager.<Operation>`, SigV4-signed), so that the real
 * `SecretsManagerClient` and our production adapter run unchanged against it. It implements the
 * operations certrotate uses, with the semantics that matter to it: version stages, idempotent
 * ClientRequestTokens, scheduled deletion, tag filters, pagination, the real error shapes.
 */
import { LOCAL_CREDENTIALS } from './kit/aws-error.js';
import { startLocalService, type InjectedFault, type LocalService } from './kit/local-service.js';
import { SecretsManagerBackend } from './secrets-manager/backend.js';

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
}

export type LocalSecretsManager = LocalService;

const MAX_BODY_BYTES = 1_048_576;

export function startLocalSecretsManager(options: LocalSecretsManagerOptions = {}): Promise<LocalSecretsManager> {
  const region = options.region ?? 'us-east-1';
  const now = options.now ?? Date.now;
  const backend = new SecretsManagerBackend(region, now);
  return startLocalService({
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
      backend.purgeExpired();
      return backend.run(operation, input);
    },
  });
}
