/**
 * A small in-memory Secrets Manager that speaks the real JSON 1.1 wire protocol (POST /,
 * `X-Amz-Target: secretsmanager.<Operation>`, SigV4-signed), so that the real
 * `SecretsManagerClient` and our production adapter run unchanged against it. It implements the
 * operations certrotate uses, with the semantics that matter to it: version stages, idempotent
 * ClientRequestTokens, scheduled deletion, tag filters, pagination, the real error shapes.
 */
import { AwsError, LOCAL_CREDENTIALS } from './kit/aws-error.js';
import { closeServer, listenOnLoopback } from './kit/http.js';
import { jsonServiceServer, type Json } from './kit/json-protocol.js';
import { JSON_SIGNATURE_ERRORS } from './kit/sigv4.js';
import { SecretsManagerBackend } from './secrets-manager/backend.js';
import { RequestQuotas, type QuotaCounters, type QuotaOptions } from './secrets-manager/quotas.js';

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
  /**
   * AWS's request quotas (secrets-manager/quotas.ts), scaled; unset means no quota. Always paced on
   * the wall clock, whatever `now` says.
   */
  quotas?: QuotaOptions;
  /** Milliseconds every authenticated request waits before it runs (network and service time). */
  latencyMs?: number;
}

export interface LocalSecretsManager {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Requests per operation since start or the last reset, faulted ones included. */
  calls(): Record<string, number>;
  /** Throttled requests and admitted writes per wall-clock second, since start or the last reset. */
  quotaCounts(): QuotaCounters;
  resetCalls(): void;
  /** Replaces the quotas (undefined: none), e.g. to set up a fleet quickly and then measure under AWS's. */
  setQuotas(quotas: QuotaOptions | undefined): void;
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
  let counts: Record<string, number> = {};
  let quotas = options.quotas === undefined ? undefined : new RequestQuotas(options.quotas);
  const latencyMs = options.latencyMs ?? 0;
  const runNow = (operation: string, input: Json): Json => {
    const fault = options.faults?.(operation, input);
    if (fault !== undefined) throw new AwsError(fault.type, fault.message, fault.status ?? 400);
    quotas?.admit(operation, Date.now());
    backend.purgeExpired();
    return backend.run(operation, input);
  };

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
      if (latencyMs <= 0) return runNow(operation, input);
      return new Promise((resolve) => setTimeout(resolve, latencyMs)).then(() => runNow(operation, input));
    },
  });
  const port = await listenOnLoopback(server, options.port ?? 0);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    calls: () => ({ ...counts }),
    quotaCounts: () => quotas?.counts() ?? { throttled: {}, writesPerSecond: new Map() },
    resetCalls: () => {
      counts = {};
      quotas?.reset();
    },
    setQuotas: (next) => {
      quotas = next === undefined ? undefined : new RequestQuotas(next);
    },
    stop: () => closeServer(server),
  };
}
