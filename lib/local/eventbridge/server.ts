/**
 * A small local EventBridge that speaks the real JSON 1.1 wire protocol (POST /,
 * `X-Amz-Target: AWSEvents.PutEvents`, SigV4-signed), so the real EventBridgeClient and our
 * adapter run unchanged against it. It implements PutEvents on the default bus and records every
 * event it accepted, for tests to read.
 */
import { AwsError, LOCAL_CREDENTIALS } from '../kit/aws-error.js';
import { closeServer, listenOnLoopback } from '../kit/http.js';
import { jsonServiceServer, type Json } from '../kit/json-protocol.js';
import { JSON_SIGNATURE_ERRORS } from '../kit/sigv4.js';
import { putEvents, type EntryFault, type ReceivedEvent } from './put-events.js';

export type { EntryFault, ReceivedEvent } from './put-events.js';

export interface LocalEventBridgeOptions {
  port?: number;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** A whole call answered with this error instead (e.g. a 503 while "EventBridge is down"). */
  fault?: (operation: string) => { type: string; message: string; status?: number } | undefined;
  /** One entry refused with this error code (the call itself succeeds: FailedEntryCount). */
  entryFault?: (entry: Json, index: number) => EntryFault | undefined;
  now?: () => number;
}

export interface LocalEventBridge {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Every event accepted, in arrival order. */
  events(): ReceivedEvent[];
  /** PutEvents calls received (refused ones included), with how many entries each carried. */
  calls(): number[];
  reset(): void;
  stop(): Promise<void>;
}

const LOCAL_ACCOUNT = '000000000000';

export async function startLocalEventBridge(options: LocalEventBridgeOptions = {}): Promise<LocalEventBridge> {
  const region = options.region ?? 'us-east-1';
  const credentials = {
    accessKeyId: options.accessKeyId ?? LOCAL_CREDENTIALS.accessKeyId,
    secretAccessKey: options.secretAccessKey ?? LOCAL_CREDENTIALS.secretAccessKey,
  };
  const now = options.now ?? Date.now;
  let received: ReceivedEvent[] = [];
  let calls: number[] = [];
  const server = jsonServiceServer({
    protocol: { contentType: 'application/x-amz-json-1.1' },
    targetPrefix: 'AWSEvents.',
    maxBodyBytes: 1_048_576,
    signature: {
      service: 'events',
      region,
      identityFor: (id) => (id === credentials.accessKeyId ? credentials : undefined),
      codes: JSON_SIGNATURE_ERRORS,
    },
    now,
    internalError: 'InternalException',
    run: (operation, input) => {
      if (operation !== 'PutEvents') throw new AwsError('UnknownOperationException', `The local EventBridge does not implement ${operation}.`);
      calls.push(Array.isArray(input.Entries) ? input.Entries.length : 0);
      const fault = options.fault?.(operation);
      if (fault !== undefined) throw new AwsError(fault.type, fault.message, fault.status ?? 400);
      const result = putEvents(input, { region, account: LOCAL_ACCOUNT, now: now(), ...(options.entryFault === undefined ? {} : { fault: options.entryFault }) });
      received.push(...result.received);
      return result.answer;
    },
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    events: () => [...received],
    calls: () => [...calls],
    reset: () => {
      received = [];
      calls = [];
    },
    stop: () => closeServer(server),
  };
}
