/**
 * A local JSON-protocol AWS endpoint on loopback, with what every one of ours needs around its
 * backend: the SigV4 check against one identity, injected faults, and request counts.
 */
import { AwsError } from './aws-error.js';
import { closeServer, listenOnLoopback } from './http.js';
import { jsonServiceServer, type Json } from './json-protocol.js';
import { JSON_SIGNATURE_ERRORS } from './sigv4.js';

export interface InjectedFault {
  /** The `__type` the client sees, e.g. `ThrottlingException`. */
  type: string;
  message: string;
  /** HTTP status; 400 unless told. */
  status?: number;
}

export interface LocalServiceOptions {
  /** SigV4 service name: `secretsmanager`, `kms`. */
  service: string;
  /** `secretsmanager.`, `TrentService.`: what X-Amz-Target starts with. */
  targetPrefix: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  now: () => number;
  maxBodyBytes: number;
  internalError: string;
  port?: number;
  /** Called for every authenticated request before it runs; a returned fault is answered instead. */
  faults?: (operation: string, input: unknown) => InjectedFault | undefined;
  /** Runs one operation (after the fault check). */
  run: (operation: string, input: Json) => Json | Promise<Json>;
}

export interface LocalService {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Requests per operation since start or the last reset, faulted ones included. */
  calls(): Record<string, number>;
  resetCalls(): void;
  stop(): Promise<void>;
}

export async function startLocalService(options: LocalServiceOptions): Promise<LocalService> {
  const { region, credentials } = options;
  let counts: Record<string, number> = {};
  const server = jsonServiceServer({
    protocol: { contentType: 'application/x-amz-json-1.1' },
    targetPrefix: options.targetPrefix,
    maxBodyBytes: options.maxBodyBytes,
    signature: {
      service: options.service,
      region,
      identityFor: (id) => (id === credentials.accessKeyId ? credentials : undefined),
      codes: JSON_SIGNATURE_ERRORS,
    },
    now: options.now,
    internalError: options.internalError,
    run: (operation, input) => {
      counts[operation] = (counts[operation] ?? 0) + 1;
      const fault = options.faults?.(operation, input);
      if (fault !== undefined) throw new AwsError(fault.type, fault.message, fault.status ?? 400);
      return options.run(operation, input);
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
    stop: () => closeServer(server),
  };
}
