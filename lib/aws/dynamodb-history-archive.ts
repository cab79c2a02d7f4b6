/**
 * The history archive: rotation history entries that left the state item, one item each
 * (sk `history#<n>`, n zero-padded so keys sort in sequence order), and each command's entry also
 * under its request id (sk `command#<requestId>`), so a retried request finds what it did.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { WriteRequest } from '@aws-sdk/client-dynamodb';
import { CertrotateError, ValidationError } from '../errors.js';
import type { Transition } from '../rotation/types.js';
import { PARTITION_KEY, SORT_KEY, authorityPartitionKey } from '../table-schema.js';
import { queryAll, writeBatches, type Item, type StateTable } from './dynamodb-table-io.js';

const HISTORY_PREFIX = 'history#';
const COMMAND_PREFIX = 'command#';
/** Sequence digits in a history sort key: zero-padded, so keys sort in sequence order. */
const SEQUENCE_DIGITS = 12;

export async function archiveHistory(table: StateTable, authority: string, firstSequence: number, entries: readonly Transition[]): Promise<void> {
  checkSequence(firstSequence);
  checkSequence(firstSequence + entries.length);
  const pk = { S: authorityPartitionKey(authority) };
  const requests: WriteRequest[] = entries.flatMap((entry, i) => {
    const item = { [PARTITION_KEY]: pk, entry: { S: JSON.stringify(entry) }, sequence: { N: String(firstSequence + i) } };
    const byRequest: WriteRequest[] =
      entry.by.kind === 'command' ? [{ PutRequest: { Item: { ...item, [SORT_KEY]: { S: `${COMMAND_PREFIX}${entry.by.requestId}` } } } }] : [];
    return [{ PutRequest: { Item: { ...item, [SORT_KEY]: { S: historySortKey(firstSequence + i) } } } }, ...byRequest];
  });
  await writeBatches(table, requests, 'history entries');
}

export async function readArchivedCommand(table: StateTable, authority: string, requestId: string): Promise<Transition | undefined> {
  const { Item: item } = await table.client.send(
    new GetItemCommand({
      TableName: table.tableName,
      Key: { [PARTITION_KEY]: { S: authorityPartitionKey(authority) }, [SORT_KEY]: { S: `${COMMAND_PREFIX}${requestId}` } },
      ConsistentRead: true,
    }),
  );
  return item === undefined ? undefined : decodeHistoryEntry(item, table.tableName);
}

export async function readArchivedHistory(table: StateTable, authority: string, before: number): Promise<Transition[]> {
  checkSequence(before);
  if (before === 0) return [];
  const entries = await queryAll(
    table,
    {
      ConsistentRead: true,
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :first AND :last',
      ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY },
      ExpressionAttributeValues: {
        ':pk': { S: authorityPartitionKey(authority) },
        ':first': { S: historySortKey(0) },
        ':last': { S: historySortKey(before - 1) },
      },
    },
    (item) => decodeHistoryEntry(item, table.tableName),
  );
  if (entries.length !== before) {
    throw new CertrotateError(
      `The archived history of authority "${authority}" in table ${table.tableName} has ${entries.length} of its ${before} entries: items with sk ${HISTORY_PREFIX}... were deleted`,
    );
  }
  return entries;
}

function historySortKey(sequence: number): string {
  return `${HISTORY_PREFIX}${String(sequence).padStart(SEQUENCE_DIGITS, '0')}`;
}

function checkSequence(sequence: number): void {
  if (!Number.isSafeInteger(sequence) || sequence < 0 || String(sequence).length > SEQUENCE_DIGITS) {
    throw new ValidationError(`A history sequence number must be an integer from 0 to ${'9'.repeat(SEQUENCE_DIGITS)}, got ${sequence}`);
  }
}

/** Trusted like the state itself: only archiveHistory writes these items. */
function decodeHistoryEntry(item: Item, tableName: string): Transition {
  const text = item.entry?.S;
  try {
    if (text !== undefined) return JSON.parse(text) as Transition;
  } catch {
    // reported below
  }
  throw new CertrotateError(`An archived history entry in table ${tableName} (pk ${item[PARTITION_KEY]?.S ?? '?'}, sk ${item[SORT_KEY]?.S ?? '?'}) is not valid JSON`);
}
