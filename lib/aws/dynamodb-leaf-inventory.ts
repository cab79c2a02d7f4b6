/**
 * The leaf inventory: one row per leaf (pk `authority#<name>`, sk `leaf#<id>`), carrying `dueKey`
 * and `renewAt` so that the sparse `due` index answers "which leaves are due" with one Query.
 */
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import type { WriteRequest } from '@aws-sdk/client-dynamodb';
import { CertrotateError, ValidationError } from '../errors.js';
import type { LeafInventoryRow } from '../ports.js';
import {
  DUE_INDEX_NAME,
  DUE_INDEX_PARTITION_KEY,
  DUE_INDEX_SORT_KEY,
  LEAF_PREFIX,
  PARTITION_KEY,
  SORT_KEY,
  authorityPartitionKey,
  leafSortKey,
} from '../table-schema.js';
import { queryAll, queryWhile, writeBatches, type Item, type ItemQuery, type StateTable } from './dynamodb-table-io.js';

/**
 * Upserts inventory rows with BatchWriteItem, 25 per request, resending what DynamoDB leaves
 * unprocessed with exponential backoff. A row given twice is written once (the last one wins):
 * BatchWriteItem rejects a request naming the same key twice.
 */
export async function putLeafRows(table: StateTable, rows: readonly LeafInventoryRow[]): Promise<void> {
  const byKey = new Map<string, WriteRequest>();
  for (const row of rows) {
    byKey.set(`${authorityPartitionKey(row.authority)}\u0000${leafSortKey(row.id)}`, {
      PutRequest: { Item: leafItem(row) },
    });
  }
  await writeBatches(table, [...byKey.values()], 'inventory rows');
}

/** Every inventory row of the authority (the full reconcile), read consistently. */
export async function readAllLeafRows(table: StateTable, authority: string): Promise<LeafInventoryRow[]> {
  return queryRows(table, {
    ConsistentRead: true,
    KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :leaf)',
    ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY },
    ExpressionAttributeValues: {
      ':pk': { S: authorityPartitionKey(authority) },
      ':leaf': { S: LEAF_PREFIX },
    },
  });
}

/**
 * Rows per page while reading from the earliest: the first usually holds every due row and the
 * earliest of the rest; when many are due at once, each page doubles, up to 1,000 (or the table's
 * page size), so the read never fetches far past the row that ends it (a 1 MB page would be
 * thousands of rows at a large fleet).
 */
function earliestPages(table: StateTable): (number | undefined)[] {
  return table.pageSize === undefined ? [100, 200, 400, 800, 1000] : [100, table.pageSize];
}

/**
 * From the `due` index in ascending renewAt: every row due by `dueBy` (renewAt <= dueBy, intent
 * rows included), then the rows within `withinMs` of the first certificate row (not an intent
 * row) that is not due. Those hold the earliest notAfter among the rows not due when every row's
 * notAfter - renewAt lies in [renewBefore, renewBefore + withinMs). One read serves the hourly
 * scan's renewals and its expiry metric; without `dueBy`, only the rows near the earliest.
 * Eventually consistent, like the index: a row written a moment ago may show up on the next scan.
 */
export async function readEarliestLeafRows(table: StateTable, authority: string, withinMs: number, dueBy = Number.NEGATIVE_INFINITY): Promise<LeafInventoryRow[]> {
  if (authority.length === 0) throw new ValidationError('An authority name must not be empty');
  let bound: number | undefined;
  return queryWhile(
    table,
    {
      IndexName: DUE_INDEX_NAME,
      KeyConditionExpression: '#dueKey = :authority',
      ExpressionAttributeNames: { '#dueKey': DUE_INDEX_PARTITION_KEY },
      ExpressionAttributeValues: { ':authority': { S: authority } },
    },
    (item) => decodeLeafRow(item, table.tableName),
    (row) => {
      if (row.renewAt <= dueBy || row.fingerprintSha256 === '') return true;
      bound ??= row.renewAt + withinMs;
      return row.renewAt <= bound;
    },
    earliestPages(table),
  );
}

/** Deletes a leaf's row; deleting a row that does not exist is not an error. */
export async function deleteLeafRow(table: StateTable, authority: string, id: string): Promise<void> {
  await table.client.send(
    new DeleteItemCommand({
      TableName: table.tableName,
      Key: {
        [PARTITION_KEY]: { S: authorityPartitionKey(authority) },
        [SORT_KEY]: { S: leafSortKey(id) },
      },
    }),
  );
}

function queryRows(table: StateTable, query: ItemQuery): Promise<LeafInventoryRow[]> {
  return queryAll(table, query, (item) => decodeLeafRow(item, table.tableName));
}

function leafItem(row: LeafInventoryRow): Item {
  return {
    [PARTITION_KEY]: { S: authorityPartitionKey(row.authority) },
    [SORT_KEY]: { S: leafSortKey(row.id) },
    [DUE_INDEX_PARTITION_KEY]: { S: row.authority },
    [DUE_INDEX_SORT_KEY]: { N: finiteNumber(row.renewAt, 'renewAt', row) },
    authority: { S: row.authority },
    id: { S: row.id },
    notAfter: { N: finiteNumber(row.notAfter, 'notAfter', row) },
    generation: { N: finiteNumber(row.generation, 'generation', row) },
    serialHex: { S: row.serialHex },
    fingerprintSha256: { S: row.fingerprintSha256 },
  };
}

function finiteNumber(value: number, field: string, row: LeafInventoryRow): string {
  if (!Number.isFinite(value)) {
    throw new ValidationError(
      `Inventory row for leaf "${row.id}" of authority "${row.authority}" has a non-finite ${field}: ${value}`,
    );
  }
  return String(value);
}

function decodeLeafRow(item: Item, tableName: string): LeafInventoryRow {
  const authority = item.authority?.S;
  const id = item.id?.S;
  const serialHex = item.serialHex?.S;
  const fingerprintSha256 = item.fingerprintSha256?.S;
  const renewAt = Number(item.renewAt?.N);
  const notAfter = Number(item.notAfter?.N);
  const generation = Number(item.generation?.N);
  if (
    authority === undefined ||
    id === undefined ||
    serialHex === undefined ||
    fingerprintSha256 === undefined ||
    !Number.isFinite(renewAt) ||
    !Number.isFinite(notAfter) ||
    !Number.isFinite(generation)
  ) {
    throw new CertrotateError(
      `An inventory row in table ${tableName} is malformed (pk ${item[PARTITION_KEY]?.S ?? '?'}, sk ${item[SORT_KEY]?.S ?? '?'}): delete it and let the full reconcile rewrite it`,
    );
  }
  return { authority, id, renewAt, notAfter, generation, serialHex, fingerprintSha256 };
}
