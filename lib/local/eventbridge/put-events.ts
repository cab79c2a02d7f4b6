/**
 * PutEvents as EventBridge answers it: 1 to 10 entries and at most 256 KB per call (a
 * ValidationException otherwise); each entry checked on its own (Source, DetailType and Detail
 * required, Detail a JSON object, the bus the default one) and answered in order, an `EventId`
 * for each accepted entry and `ErrorCode`/`ErrorMessage` for each refused one, with
 * `FailedEntryCount`.
 */
import { randomUUID } from 'node:crypto';
import { AwsError } from '../kit/aws-error.js';
import { isRecord, type Json } from '../kit/json-protocol.js';

export interface ReceivedEvent {
  id: string;
  source: string;
  detailType: string;
  detail: Json;
  /** Epoch ms: the entry's Time, or when it was received. */
  time: number;
  resources: string[];
  eventBusName: string;
}

/** A refusal of one entry, as a test injects it (e.g. `InternalFailure` for the first attempt). */
export interface EntryFault {
  code: string;
  message: string;
}

const MAX_ENTRIES = 10;
const MAX_BYTES = 256 * 1024;

function size(entry: Json): number {
  const bytes = (value: unknown) => (typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : 0);
  const resources = Array.isArray(entry.Resources) ? entry.Resources.reduce<number>((sum, resource) => sum + bytes(resource), 0) : 0;
  return (entry.Time === undefined ? 0 : 14) + bytes(entry.Source) + bytes(entry.DetailType) + bytes(entry.Detail) + resources + bytes(entry.EventBusName);
}

function refusal(entry: Json, region: string, account: string): EntryFault | undefined {
  for (const field of ['Source', 'DetailType', 'Detail'] as const) {
    if (typeof entry[field] !== 'string' || entry[field] === '') return { code: 'InvalidArgument', message: `Parameter ${field} is not valid. Reason: ${field} is a required argument.` };
  }
  let detail: unknown;
  try {
    detail = JSON.parse(String(entry.Detail));
  } catch {
    detail = undefined;
  }
  if (!isRecord(detail)) return { code: 'MalformedDetail', message: 'Detail is malformed.' };
  const bus = entry.EventBusName;
  if (bus !== undefined && bus !== 'default' && bus !== `arn:aws:events:${region}:${account}:event-bus/default`) {
    return { code: 'ResourceNotFoundException', message: `Event bus ${JSON.stringify(bus)} does not exist.` };
  }
  return undefined;
}

export function putEvents(
  input: Json,
  context: { region: string; account: string; now: number; fault?: (entry: Json, index: number) => EntryFault | undefined },
): { answer: Json; received: ReceivedEvent[] } {
  const entries = input.Entries;
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > MAX_ENTRIES) {
    const count = Array.isArray(entries) ? entries.length : 0;
    throw new AwsError('ValidationException', `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10 (got ${count})`);
  }
  if (!entries.every(isRecord)) throw new AwsError('SerializationException', 'Entries must be objects.');
  if (entries.reduce((sum, entry) => sum + size(entry), 0) > MAX_BYTES) {
    throw new AwsError('ValidationException', 'Total size of the entries in the request is over the limit.');
  }
  const received: ReceivedEvent[] = [];
  const results = entries.map((entry, index): Json => {
    const refused = refusal(entry, context.region, context.account) ?? context.fault?.(entry, index);
    if (refused !== undefined) return { ErrorCode: refused.code, ErrorMessage: refused.message };
    const id = randomUUID();
    const time = typeof entry.Time === 'number' ? entry.Time * 1000 : context.now;
    received.push({
      id,
      source: String(entry.Source),
      detailType: String(entry.DetailType),
      detail: JSON.parse(String(entry.Detail)) as Json,
      time,
      resources: Array.isArray(entry.Resources) ? entry.Resources.map(String) : [],
      eventBusName: typeof entry.EventBusName === 'string' ? entry.EventBusName : 'default',
    });
    return { EventId: id };
  });
  return { answer: { FailedEntryCount: results.filter((result) => 'ErrorCode' in result).length, Entries: results }, received };
}
