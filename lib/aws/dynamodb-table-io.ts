/**
 * What every part of the DynamoDB state store reads and writes through: the table, paged Queries,
 * and BatchWriteItem with its unprocessed items resent.
 */
import { BatchWriteItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient, QueryCommandInput, WriteRequest } from '@aws-sdk/client-dynamodb';
import { CertrotateError } from '../errors.js';

/** BatchWriteItem's hard limit. */
const BATCH_WRITE_MAX = 25;

export type Item = Record<string, AttributeValue>;

/** The table and how to page and batch against it. */
export interface StateTable {
  client: DynamoDBClient;
  tableName: string;
  /** Items per Query/Scan page (DynamoDB's `Limit`); undefined: DynamoDB's 1 MB pages. */
  pageSize: number | undefined;
  /** Attempts of one BatchWriteItem chunk while DynamoDB leaves items unprocessed. */
  maxBatchAttempts: number;
  /** First backoff before resending unprocessed items, doubled per attempt, with jitter. */
  batchRetryBaseDelayMs: number;
  /** BatchWriteItem chunks in flight at once. */
  batchConcurrency: number;
}

export type ItemQuery = Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey' | 'Limit'>;

/** Every item the query matches, page by page. */
export async function queryAll<T>(table: StateTable, query: ItemQuery, decode: (item: Item) => T): Promise<T[]> {
  const rows: T[] = [];
  let startKey: Item | undefined;
  do {
    const page = await table.client.send(
      new QueryCommand({
        ...query,
        TableName: table.tableName,
        ExclusiveStartKey: startKey,
        Limit: table.pageSize,
      }),
    );
    for (const item of page.Items ?? []) rows.push(decode(item));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return rows;
}

/**
 * The items the query matches, in its order, while `more` holds: the first row it refuses ends
 * the read (that row is left out), so only the pages up to it are fetched. Page i holds
 * `pageSizes[i]` items, the last size repeating (undefined: DynamoDB's 1 MB pages).
 */
export async function queryWhile<T>(table: StateTable, query: ItemQuery, decode: (item: Item) => T, more: (row: T) => boolean, pageSizes: readonly (number | undefined)[]): Promise<T[]> {
  const rows: T[] = [];
  let startKey: Item | undefined;
  let pageIndex = 0;
  do {
    const limit = pageSizes[Math.min(pageIndex++, pageSizes.length - 1)];
    const page = await table.client.send(new QueryCommand({ ...query, TableName: table.tableName, ExclusiveStartKey: startKey, Limit: limit }));
    for (const item of page.Items ?? []) {
      const row = decode(item);
      if (!more(row)) return rows;
      rows.push(row);
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return rows;
}

/** BatchWriteItem, 25 requests per call and `batchConcurrency` calls in flight. */
export async function writeBatches(table: StateTable, requests: readonly WriteRequest[], what: string): Promise<void> {
  const chunks: WriteRequest[][] = [];
  for (let start = 0; start < requests.length; start += BATCH_WRITE_MAX) {
    chunks.push(requests.slice(start, start + BATCH_WRITE_MAX));
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let chunk = chunks[next++]; chunk !== undefined; chunk = chunks[next++]) {
      await writeChunk(table, chunk, what);
    }
  };
  const workers = Math.max(1, Math.min(table.batchConcurrency, chunks.length));
  await Promise.all(Array.from({ length: workers }, worker));
}

async function writeChunk(table: StateTable, requests: WriteRequest[], what: string): Promise<void> {
  const { client, tableName } = table;
  let pending = requests;
  for (let attempt = 1; ; attempt++) {
    const { UnprocessedItems: unprocessed } = await client.send(
      new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } }),
    );
    const left = unprocessed?.[tableName] ?? [];
    if (left.length === 0) return;
    if (attempt >= table.maxBatchAttempts) {
      throw new CertrotateError(
        `DynamoDB left ${left.length} of ${requests.length} ${what} unprocessed in table ${tableName} after ${attempt} attempts (throttled): the others were written; retrying is safe, the writes are idempotent`,
      );
    }
    pending = left;
    // Full jitter: writers that were throttled together do not retry together.
    const ceiling = table.batchRetryBaseDelayMs * 2 ** (attempt - 1);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
  }
}
