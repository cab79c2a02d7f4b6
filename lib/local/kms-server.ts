/**
 * A small in-memory KMS that speaks the real JSON 1.1 wire protocol (POST /,
 * `X-Amz-Target: TrentService.<Operation>`, SigV4-signed), so that the real `KMSClient` and our
 * adapter (lib/aws/kms-ca-keys.ts) run unchanged against it. Asymmetric signing keys only; no
 * operation returns their private halves (only `snapshot()`, for the sandbox's restart: see kms/snapshot.ts).
 */
import { LOCAL_CREDENTIALS } from './kit/aws-error.js';
import { startLocalService, type InjectedFault, type LocalService } from './kit/local-service.js';
import { KmsBackend } from './kms/backend.js';
import type { KmsSnapshot } from './kms/snapshot.js';

export interface LocalKmsOptions {
  port?: number;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Answers a fault instead of running the operation (tests inject throttling with it). */
  faults?: (operation: string, input: unknown) => InjectedFault | undefined;
  /** Clock for creation and deletion dates, epoch ms; the wall clock unless told. */
  now?: () => number;
  /** Keys and aliases to start with: a `snapshot()` taken earlier (the sandbox resumes from disk). */
  restore?: KmsSnapshot;
}

export interface LocalKms extends LocalService {
  /** Every key (private halves included: a local emulator), alias, tag and state, for `restore`. */
  snapshot(): KmsSnapshot;
}

export async function startLocalKms(options: LocalKmsOptions = {}): Promise<LocalKms> {
  const region = options.region ?? 'us-east-1';
  const now = options.now ?? Date.now;
  const backend = new KmsBackend(region, now);
  if (options.restore !== undefined) backend.restore(options.restore);
  const service = await startLocalService({
    service: 'kms',
    targetPrefix: 'TrentService.',
    region,
    credentials: options.credentials ?? { ...LOCAL_CREDENTIALS },
    now,
    maxBodyBytes: 65_536,
    internalError: 'KMSInternalException',
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.faults === undefined ? {} : { faults: options.faults }),
    run: (operation, input) => {
      backend.purgeExpired();
      return backend.run(operation, input);
    },
  });
  return { ...service, snapshot: () => backend.snapshot() };
}
