/**
 * A small in-memory Secrets Manager that speaks the real JSON 1.1 wire protocol (POST /,
 * `X-Amz-Target: secretsmanager.<Operation>`, SigV4-signed), so that the real
 * `SecretsManagerClient` and our production adapter run unchanged against it. It implements the
 * operations certrotate uses, with the semantics that matter to it: version stages, idempotent
 * ClientRequestTokens, scheduled deletion, tag filters, pagination, the real error shapes.
 */
import { AwsError, LOCAL_CREDENTIALS } from './kit/aws-error.js';
import { closeServer, listenOnLoopback } from './kit/http.js';
import { jsonServiceServer } from './kit/json-protocol.js';
import { JSON_SIGNATURE_ERRORS } from './kit/sigv4.js';
import { SecretsManagerBackend } from './secrets-manager/backend.js';
import { restoreSecrets, snapshotSecrets, type SecretsSnapshot } from './secrets-manager/snapshot.js';

export interface InjectedFault {
  /** The `__type` the client sees, e.g. `ThrottlingException`. */
  type: string;
  message: string;
  /** HTTP status; 400 unless told. */
  status?: number;
}

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
  /** Secrets to start with: a `snapshot()` taken earlier (the sandbox resumes from disk). */
  restore?: SecretsSnapshot;
}

export interface LocalSecretsManager {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Requests per operation since start or the last reset, faulted ones included. */
  calls(): Record<string, number>;
  resetCalls(): void;
  /** Every secret, its versions and stages, as JSON-safe data for `restore`. */
  snapshot(): SecretsSnapshot;
  stop(): Promise<void>;
}

const MAX_BODY_BYTES = 1_048_576;

export async function startLocalSecretsManager(
  options: LocalSecretsManagerOptions = {},
): Promise<LocalSecretsManager> {
  const region = options.region ?? 'us-east-1';
  const credentials = {
    accessKeyId: options.accessKeyId ?? LOCAL_CREDENTIALS.accessKeyId,
    secretAccessKey: options.secretAccessKey ?? LOCAL_CREDENTIALS.secretAccessKey,
  };
  const now = options.now ?? Date.now;
  const backend = new SecretsManagerBackend(region, now);
  if (options.restore !== undefined) backend.importSecrets(restoreSecrets(options.restore));
  let counts: Record<string, number> = {};

  const server = jsonServiceServer({
    protocol: { contentType: 'application/x-amz-json-1.1' },
    targetPrefix: 'secretsmanager.',
    maxBodyBytes: MAX_BODY_BYTES,
    signature: {
      service: 'secretsmanager',
      region,
      identityFor: (id) => (id === credentials.accessKeyId ? credentials : undefined),
      codes: JSON_SIGNATURE_ERRORS,
    },
    now,
    internalError: 'InternalServiceError',
    run: (operation, input) => {
      counts[operation] = (counts[operation] ?? 0) + 1;
      const fault = options.faults?.(operation, input);
      if (fault !== undefined) throw new AwsError(fault.type, fault.message, fault.status ?? 400);
      backend.purgeExpired();
      return backend.run(operation, input);
    },
  });
  const port = await listenOnLoopback(server, options.port ?? 0);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    calls: () => ({ ...counts }),
    resetCalls: () => {
      counts = {};
    },
    snapshot: () => snapshotSecrets(backend.exportSecrets()),
    stop: () => closeServer(server),
  };
}
