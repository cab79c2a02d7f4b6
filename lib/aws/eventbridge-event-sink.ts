/**
 * The EventSink that also puts every engine event on EventBridge (the default bus, source
 * `certrotate`, a detail type per event: eventbridge-events.ts). `emit` only buffers: it never
 * waits and never throws, so the rotation goes on whatever EventBridge does. `flush`, called
 * before the handler returns, sends the buffer with PutEvents in batches (at most 10 entries and
 * 256 KB a call), sends again the entries a response marks failed (`FailedEntryCount`), and
 * gives up after a few attempts or a deadline: what could not be delivered is reported to
 * flush's answer and `onUndelivered` (a log line and a metric in the handlers); flush still resolves.
 *
 * The SDK client is loaded with import() on the first flush: the functions leave
 * @aws-sdk/client-eventbridge out of their bundles and take the Lambda runtime's (infra/bundling.ts).
 */
import type { EventBridgeClient, PutEventsRequestEntry, PutEventsResultEntry } from '@aws-sdk/client-eventbridge';
import type { EventSink } from '../ports.js';
import { EVENT_SOURCE, detailTypeOf, eventDetail } from './eventbridge-events.js';

/** PutEvents takes at most 10 entries and 256 KB per call. */
export const MAX_ENTRIES_PER_CALL = 10;
export const MAX_BYTES_PER_CALL = 256 * 1024;
/** A buffer this full drops (and counts) what comes next: a run must not grow without bound. */
const MAX_BUFFERED = 20_000;

export interface EventBridgeSinkOptions {
  /** The client, or how to make it on first use (a lazy import keeps it out of the bundle). */
  client: EventBridgeClient | (() => Promise<EventBridgeClient>);
  /** Default: the account's default bus. */
  eventBusName?: string;
  /** Calls per batch, the first included (default 3). */
  attempts?: number;
  /** Pause before the second attempt, doubled each time (default 100 ms). */
  backoffMs?: number;
  /** Flush gives up on what is left after this long (default 5 s). */
  deadlineMs?: number;
  /** Batches in flight at once (default 4). */
  concurrency?: number;
  /** What could not be delivered, and why (the last error seen). */
  onUndelivered?: (count: number, reason: string) => void;
  /** The event time; defaults to the wall clock. */
  now?: () => number;
}

export type EventEntry = PutEventsRequestEntry & { Source: string; DetailType: string; Detail: string };

/** An entry's size as EventBridge counts it: its strings in UTF-8, and 14 bytes for Time. */
export function entrySize(entry: EventEntry): number {
  const bytes = (text: string | undefined) => (text === undefined ? 0 : Buffer.byteLength(text, 'utf8'));
  return 14 + bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail) + (entry.Resources ?? []).reduce((sum, resource) => sum + bytes(resource), 0) + bytes(entry.EventBusName);
}

/** Entries cut into calls of at most 10 entries and 256 KB; an entry over 256 KB alone is refused. */
export function batches(entries: readonly EventEntry[]): { calls: EventEntry[][]; oversized: EventEntry[] } {
  const calls: EventEntry[][] = [];
  const oversized: EventEntry[] = [];
  let current: EventEntry[] = [];
  let size = 0;
  for (const entry of entries) {
    const bytes = entrySize(entry);
    if (bytes > MAX_BYTES_PER_CALL) {
      oversized.push(entry);
      continue;
    }
    if (current.length === MAX_ENTRIES_PER_CALL || size + bytes > MAX_BYTES_PER_CALL) {
      calls.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += bytes;
  }
  if (current.length > 0) calls.push(current);
  return { calls, oversized };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class EventBridgeEventSink implements EventSink {
  readonly #options: EventBridgeSinkOptions;
  #buffer: EventEntry[] = [];
  #client: Promise<EventBridgeClient> | undefined;
  #dropped = 0;
  /** Entries delivered since this sink was made (tests and the handler's log read it). */
  delivered = 0;

  constructor(options: EventBridgeSinkOptions) {
    this.#options = options;
  }

  emit(event: { type: string; authority: string; detail: Record<string, unknown> }): void {
    try {
      if (this.#buffer.length >= MAX_BUFFERED) {
        this.#dropped++;
        return;
      }
      this.#buffer.push({
        Source: EVENT_SOURCE,
        DetailType: detailTypeOf(event.type),
        Detail: JSON.stringify(eventDetail(event)),
        Time: new Date((this.#options.now ?? Date.now)()),
        ...(this.#options.eventBusName === undefined ? {} : { EventBusName: this.#options.eventBusName }),
      });
    } catch {
      // An event that cannot even be serialized is counted as undelivered; the run goes on.
      this.#dropped++;
    }
  }

  /** Entries waiting for the next flush. */
  get pending(): number {
    return this.#buffer.length;
  }

  #clientOnce(): Promise<EventBridgeClient> {
    const { client } = this.#options;
    this.#client ??= typeof client === 'function' ? client() : Promise.resolve(client);
    return this.#client;
  }

  /** Sends everything buffered; resolves when all is delivered or given up (never rejects), with what was not. */
  async flush(): Promise<{ undelivered: number; reason: string }> {
    const entries = this.#buffer;
    this.#buffer = [];
    const { calls, oversized } = batches(entries);
    let undelivered = this.#dropped + oversized.length;
    let reason = oversized.length > 0 ? `${oversized.length} events over 256 KB` : this.#dropped > 0 ? 'the event buffer was full' : '';
    this.#dropped = 0;
    const deadline = Date.now() + (this.#options.deadlineMs ?? 5_000);
    const queue = [...calls];
    const worker = async () => {
      for (let batch = queue.shift(); batch !== undefined; batch = queue.shift()) {
        const failed = await this.#send(batch, deadline);
        undelivered += failed.count;
        if (failed.count > 0) reason = failed.reason;
      }
    };
    await Promise.all(Array.from({ length: Math.min(queue.length, this.#options.concurrency ?? 4) }, worker));
    if (undelivered > 0) this.#options.onUndelivered?.(undelivered, reason);
    return { undelivered, reason };
  }

  /** One batch with its retries: how many entries were finally not delivered, and the last reason. */
  async #send(batch: EventEntry[], deadline: number): Promise<{ count: number; reason: string }> {
    const attempts = this.#options.attempts ?? 3;
    let todo = batch;
    let reason = '';
    for (let attempt = 1; attempt <= attempts && todo.length > 0; attempt++) {
      if (attempt > 1) {
        const pause = (this.#options.backoffMs ?? 100) * 2 ** (attempt - 2);
        if (Date.now() + pause >= deadline) break;
        await sleep(pause);
      }
      try {
        const client = await this.#clientOnce();
        const { PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
        const answer = await client.send(new PutEventsCommand({ Entries: todo }));
        const results: PutEventsResultEntry[] = answer.Entries ?? [];
        // Each answer entry is the request entry at the same index; one with an ErrorCode failed.
        const failed = todo.filter((_, index) => results[index]?.ErrorCode !== undefined || results[index]?.EventId === undefined);
        this.delivered += todo.length - failed.length;
        if (failed.length > 0) {
          const first = results.find((result) => result.ErrorCode !== undefined);
          reason = `PutEvents: ${answer.FailedEntryCount ?? failed.length} entries failed (${first?.ErrorCode ?? 'no event id'}${first?.ErrorMessage === undefined ? '' : `: ${first.ErrorMessage}`})`;
        }
        todo = failed;
      } catch (error) {
        reason = `PutEvents: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      }
      if (Date.now() >= deadline) break;
    }
    return { count: todo.length, reason };
  }
}

/** A client made on first use, from the runtime's SDK: short timeouts, and our own retries above. */
export function lazyEventBridgeClient(options: { region: string; endpoint?: string; credentials?: { accessKeyId: string; secretAccessKey: string } }) {
  return async (): Promise<EventBridgeClient> => {
    const { EventBridgeClient: Client } = await import('@aws-sdk/client-eventbridge');
    return new Client({
      region: options.region,
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 2_000, requestTimeout: 3_000, throwOnRequestTimeout: true },
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    });
  };
}
