/**
 * The StateStore port on DynamoDB: one table per deployment holding, per authority, the rotation
 * state (optimistically versioned), a lease, and one inventory row per leaf indexed by `renewAt`.
 *
 * | item            | pk                 | sk           | other attributes                                        |
 * |-----------------|--------------------|--------------|---------------------------------------------------------|
 * | authority state | `authority#<name>` | `state`      | state (JSON string), version, leaseOwner?, leaseUntil?  |
 * | leaf row        | `authority#<name>` | `leaf#<id>`  | dueKey (= name), renewAt, and the LeafInventoryRow fields |
 * | history entry   | `authority#<name>` | `history#<n>`| entry (JSON string); n = sequence, zero-padded to 12 digits |
 * | archived command| `authority#<name>` | `command#<requestId>` | entry (JSON string), sequence: finds a retried request |
 *
 * The GSI `due` (dueKey, renewAt) is sparse: only leaf rows carry `dueKey`, so a due scan is one
 * Query reading only the due rows.
 */
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  GetItemCommand,
  QueryCommand,
  ResourceInUseException,
  ScanCommand,
  UpdateItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type {
  AttributeValue,
  DynamoDBClient,
  QueryCommandInput,
  WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { CertrotateError, ConflictError, StoredDataError, ValidationError } from '../errors.js';
import type { LeafInventoryRow, StateStore, VersionedState } from '../ports.js';
import type { Transition } from '../rotation/types.js';
import {
  AUTHORITY_PREFIX,
  DUE_INDEX_NAME,
  DUE_INDEX_PARTITION_KEY,
  DUE_INDEX_SORT_KEY,
  LEAF_PREFIX,
  PARTITION_KEY,
  SORT_KEY,
  STATE_SORT_KEY,
  STATE_TABLE_SCHEMA,
  authorityPartitionKey,
  leafSortKey,
} from '../table-schema.js';
import { isConditionalCheckFailed, isErrorNamed } from './dynamodb-errors.js';

const HISTORY_PREFIX = 'history#';
const COMMAND_PREFIX = 'command#';
/** Sequence digits in a history sort key: zero-padded, so keys sort in sequence order. */
const SEQUENCE_DIGITS = 12;
/** BatchWriteItem's hard limit. */
const BATCH_WRITE_MAX = 25;

/**
 * Creates the state table (on-demand billing) with the schema above and waits until it is ACTIVE.
 * An already existing table is accepted as is, so local runs can call this on every start.
 */
export async function createStateTable(
  client: DynamoDBClient,
  tableName: string,
  options: { maxWaitSeconds?: number } = {},
): Promise<void> {
  const { partitionKey, sortKey, dueIndex } = STATE_TABLE_SCHEMA;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: partitionKey.name, AttributeType: partitionKey.type },
          { AttributeName: sortKey.name, AttributeType: sortKey.type },
          { AttributeName: dueIndex.partitionKey.name, AttributeType: dueIndex.partitionKey.type },
          { AttributeName: dueIndex.sortKey.name, AttributeType: dueIndex.sortKey.type },
        ],
        KeySchema: [
          { AttributeName: partitionKey.name, KeyType: 'HASH' },
          { AttributeName: sortKey.name, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: dueIndex.indexName,
            KeySchema: [
              { AttributeName: dueIndex.partitionKey.name, KeyType: 'HASH' },
              { AttributeName: dueIndex.sortKey.name, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: dueIndex.projection },
          },
        ],
      }),
    );
  } catch (error) {
    if (!isErrorNamed(error, ResourceInUseException, 'ResourceInUseException')) throw error;
  }
  await waitUntilTableExists(
    { client, minDelay: 1, maxDelay: 5, maxWaitTime: options.maxWaitSeconds ?? 300 },
    { TableName: tableName },
  );
}

export interface DynamoDbStateStoreOptions<S> {
  /** Injected: SDK clients are created once, in the composition module. */
  client: DynamoDBClient;
  tableName: string;
  /**
   * Checks a stored state document and returns it as S; throw to reject it. Without one the
   * document is trusted as S, which holds as long as only writeState (which takes an S) writes it.
   */
  parseState?: (value: unknown) => S;
  /** Items per Query/Scan page (DynamoDB's `Limit`); default: DynamoDB's 1 MB pages. */
  pageSize?: number;
  /** Attempts of one BatchWriteItem chunk while DynamoDB leaves items unprocessed; default 8. */
  maxBatchAttempts?: number;
  /** First backoff before resending unprocessed items, doubled per attempt, with jitter; default 50. */
  batchRetryBaseDelayMs?: number;
  /** BatchWriteItem chunks in flight at once; default 4. */
  batchConcurrency?: number;
}

export class DynamoDbStateStore<S> implements StateStore<S> {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly parseState: (value: unknown) => S;
  private readonly pageSize: number | undefined;
  private readonly maxBatchAttempts: number;
  private readonly batchRetryBaseDelayMs: number;
  private readonly batchConcurrency: number;

  constructor(options: DynamoDbStateStoreOptions<S>) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.parseState = options.parseState ?? trustStoredState;
    this.pageSize = options.pageSize;
    this.maxBatchAttempts = options.maxBatchAttempts ?? 8;
    this.batchRetryBaseDelayMs = options.batchRetryBaseDelayMs ?? 50;
    this.batchConcurrency = options.batchConcurrency ?? 4;
  }

  async readState(authority: string): Promise<VersionedState<S> | undefined> {
    const { Item: item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: this.authorityKey(authority),
        ConsistentRead: true,
        ProjectionExpression: '#state, #version',
        ExpressionAttributeNames: { '#state': 'state', '#version': 'version' },
      }),
    );
    // An item holding only a lease (taken before the first state write) has no state yet.
    const text = item?.state?.S;
    if (item === undefined || text === undefined) return undefined;
    const version = Number(item.version?.N);
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new StoredDataError(
        `The stored state of authority "${authority}" has no valid version in table ${this.tableName}: fix or delete the item (pk ${authorityPartitionKey(authority)}, sk ${STATE_SORT_KEY})`,
      );
    }
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (cause) {
      throw new StoredDataError(
        `The stored state of authority "${authority}" (version ${version}) in table ${this.tableName} is not valid JSON`,
        { cause },
      );
    }
    try {
      return { state: this.parseState(document), version };
    } catch (cause) {
      if (!(cause instanceof CertrotateError)) throw cause;
      throw new StoredDataError(
        `The stored state of authority "${authority}" (version ${version}) in table ${this.tableName} is invalid; nothing was done with it. Fix or restore the item (pk ${authorityPartitionKey(authority)}, sk ${STATE_SORT_KEY}): ${cause.message}`,
        { cause },
      );
    }
  }

  /**
   * The state is stored as one JSON string rather than a DynamoDB map: the store never looks
   * inside it, a string round-trips any JSON value exactly (a map loses `undefined` members, caps
   * nesting at 32 levels and needs marshalling options), and the 400 KB item limit is the same.
   */
  async writeState(
    authority: string,
    state: S,
    expectedVersion: number | undefined,
  ): Promise<number> {
    if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 1)) {
      throw new ValidationError(
        `expectedVersion for authority "${authority}" must be a positive integer or undefined, got ${expectedVersion}`,
      );
    }
    const text = JSON.stringify(state);
    if (text === undefined) {
      throw new ValidationError(`The state of authority "${authority}" is not JSON-serializable`);
    }
    const nextVersion = (expectedVersion ?? 0) + 1;
    const values: Record<string, AttributeValue> = {
      ':state': { S: text },
      ':next': { N: String(nextVersion) },
    };
    if (expectedVersion !== undefined) values[':expected'] = { N: String(expectedVersion) };
    try {
      // UpdateItem, not PutItem: the lease attributes on the same item must survive.
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.authorityKey(authority),
          UpdateExpression: 'SET #state = :state, #version = :next',
          ConditionExpression:
            expectedVersion === undefined ? 'attribute_not_exists(#version)' : '#version = :expected',
          ExpressionAttributeNames: { '#state': 'state', '#version': 'version' },
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (isConditionalCheckFailed(error)) {
        throw new ConflictError(
          expectedVersion === undefined
            ? `The state of authority "${authority}" was expected not to exist yet, but another writer created it: re-read and decide again`
            : `The state of authority "${authority}" is no longer at version ${expectedVersion}: another writer changed it; re-read and decide again`,
          { cause: error },
        );
      }
      throw error;
    }
    return nextVersion;
  }

  /**
   * Takes the lease when nobody holds it, when it expired (leaseUntil < now), or extends it when
   * `owner` already holds it. Works before any state exists: it then creates an item holding only
   * the lease.
   */
  async acquireLease(
    authority: string,
    owner: string,
    now: number,
    durationMs: number,
  ): Promise<boolean> {
    if (owner.length === 0) throw new ValidationError('A lease owner must not be empty');
    if (!Number.isFinite(now) || !Number.isFinite(durationMs) || durationMs <= 0) {
      throw new ValidationError(
        `A lease on authority "${authority}" needs a finite now and a positive duration, got now=${now}, durationMs=${durationMs}`,
      );
    }
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.authorityKey(authority),
          UpdateExpression: 'SET #owner = :owner, #until = :until',
          ConditionExpression: 'attribute_not_exists(#until) OR #until < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#owner': 'leaseOwner', '#until': 'leaseUntil' },
          ExpressionAttributeValues: {
            ':owner': { S: owner },
            ':until': { N: String(now + durationMs) },
            ':now': { N: String(now) },
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** Removes the lease if `owner` holds it; otherwise (someone else's, or none) does nothing. */
  async releaseLease(authority: string, owner: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.authorityKey(authority),
          UpdateExpression: 'REMOVE #owner, #until',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'leaseOwner', '#until': 'leaseUntil' },
          ExpressionAttributeValues: { ':owner': { S: owner } },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
  }

  /**
   * Upserts inventory rows with BatchWriteItem, 25 per request, resending what DynamoDB leaves
   * unprocessed with exponential backoff. A row given twice is written once (the last one wins):
   * BatchWriteItem rejects a request naming the same key twice.
   */
  async putLeafRows(rows: readonly LeafInventoryRow[]): Promise<void> {
    const byKey = new Map<string, WriteRequest>();
    for (const row of rows) {
      byKey.set(`${authorityPartitionKey(row.authority)}\u0000${leafSortKey(row.id)}`, {
        PutRequest: { Item: leafItem(row) },
      });
    }
    await this.writeBatches([...byKey.values()], 'inventory rows');
  }

  /** BatchWriteItem, 25 requests per call and `batchConcurrency` calls in flight. */
  private async writeBatches(requests: readonly WriteRequest[], what: string): Promise<void> {
    const chunks: WriteRequest[][] = [];
    for (let start = 0; start < requests.length; start += BATCH_WRITE_MAX) {
      chunks.push(requests.slice(start, start + BATCH_WRITE_MAX));
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let chunk = chunks[next++]; chunk !== undefined; chunk = chunks[next++]) {
        await this.writeChunk(chunk, what);
      }
    };
    const workers = Math.max(1, Math.min(this.batchConcurrency, chunks.length));
    await Promise.all(Array.from({ length: workers }, worker));
  }

  /**
   * The rows with renewAt <= now, from the `due` index. The index is eventually consistent: a row
   * written a moment ago may show up on the next scan rather than this one.
   */
  async readDueLeafRows(authority: string, now: number): Promise<LeafInventoryRow[]> {
    if (authority.length === 0) throw new ValidationError('An authority name must not be empty');
    return this.queryRows({
      IndexName: DUE_INDEX_NAME,
      KeyConditionExpression: '#dueKey = :authority AND #renewAt <= :now',
      ExpressionAttributeNames: { '#dueKey': DUE_INDEX_PARTITION_KEY, '#renewAt': DUE_INDEX_SORT_KEY },
      ExpressionAttributeValues: { ':authority': { S: authority }, ':now': { N: String(now) } },
    });
  }

  /** Every inventory row of the authority (the full reconcile), read consistently. */
  async readAllLeafRows(authority: string): Promise<LeafInventoryRow[]> {
    return this.queryRows({
      ConsistentRead: true,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :leaf)',
      ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY },
      ExpressionAttributeValues: {
        ':pk': { S: authorityPartitionKey(authority) },
        ':leaf': { S: LEAF_PREFIX },
      },
    });
  }

  /** Deletes a leaf's row; deleting a row that does not exist is not an error. */
  async deleteLeafRow(authority: string, id: string): Promise<void> {
    await this.client.send(
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: {
          [PARTITION_KEY]: { S: authorityPartitionKey(authority) },
          [SORT_KEY]: { S: leafSortKey(id) },
        },
      }),
    );
  }

  async archiveHistory(authority: string, firstSequence: number, entries: readonly Transition[]): Promise<void> {
    checkSequence(firstSequence);
    checkSequence(firstSequence + entries.length);
    const pk = { S: authorityPartitionKey(authority) };
    const requests: WriteRequest[] = entries.flatMap((entry, i) => {
      const item = { [PARTITION_KEY]: pk, entry: { S: JSON.stringify(entry) }, sequence: { N: String(firstSequence + i) } };
      const byRequest: WriteRequest[] =
        entry.by.kind === 'command' ? [{ PutRequest: { Item: { ...item, [SORT_KEY]: { S: `${COMMAND_PREFIX}${entry.by.requestId}` } } } }] : [];
      return [{ PutRequest: { Item: { ...item, [SORT_KEY]: { S: historySortKey(firstSequence + i) } } } }, ...byRequest];
    });
    await this.writeBatches(requests, 'history entries');
  }

  async readArchivedCommand(authority: string, requestId: string): Promise<Transition | undefined> {
    const { Item: item } = await this.client.send(
      new GetItemCommand({
        TableName: this.tableName,
        Key: { [PARTITION_KEY]: { S: authorityPartitionKey(authority) }, [SORT_KEY]: { S: `${COMMAND_PREFIX}${requestId}` } },
        ConsistentRead: true,
      }),
    );
    return item === undefined ? undefined : decodeHistoryEntry(item, this.tableName);
  }

  async readArchivedHistory(authority: string, before: number): Promise<Transition[]> {
    checkSequence(before);
    if (before === 0) return [];
    const entries = await this.queryItems(
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
      (item) => decodeHistoryEntry(item, this.tableName),
    );
    if (entries.length !== before) {
      throw new CertrotateError(
        `The archived history of authority "${authority}" in table ${this.tableName} has ${entries.length} of its ${before} entries: items with sk ${HISTORY_PREFIX}... were deleted`,
      );
    }
    return entries;
  }

  /**
   * Authorities that have a state item, sorted. A filtered Scan: it reads the whole table, which
   * is fine for a handful of authorities but not for a per-request path.
   */
  async listAuthorities(): Promise<string[]> {
    const names: string[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ConsistentRead: true,
          ProjectionExpression: '#pk',
          FilterExpression: '#sk = :state AND attribute_exists(#version)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY, '#version': 'version' },
          ExpressionAttributeValues: { ':state': { S: STATE_SORT_KEY } },
          ExclusiveStartKey: startKey,
          Limit: this.pageSize,
        }),
      );
      for (const item of page.Items ?? []) {
        const pk = item[PARTITION_KEY]?.S;
        if (pk?.startsWith(AUTHORITY_PREFIX)) names.push(pk.slice(AUTHORITY_PREFIX.length));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return names.sort();
  }

  private authorityKey(authority: string): Record<string, AttributeValue> {
    return {
      [PARTITION_KEY]: { S: authorityPartitionKey(authority) },
      [SORT_KEY]: { S: STATE_SORT_KEY },
    };
  }

  private async queryRows(
    query: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey' | 'Limit'>,
  ): Promise<LeafInventoryRow[]> {
    return this.queryItems(query, (item) => decodeLeafRow(item, this.tableName));
  }

  /** Every item the query matches, page by page. */
  private async queryItems<T>(
    query: Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey' | 'Limit'>,
    decode: (item: Record<string, AttributeValue>) => T,
  ): Promise<T[]> {
    const rows: T[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          ...query,
          TableName: this.tableName,
          ExclusiveStartKey: startKey,
          Limit: this.pageSize,
        }),
      );
      for (const item of page.Items ?? []) rows.push(decode(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return rows;
  }

  private async writeChunk(requests: WriteRequest[], what: string): Promise<void> {
    let pending = requests;
    for (let attempt = 1; ; attempt++) {
      const { UnprocessedItems: unprocessed } = await this.client.send(
        new BatchWriteItemCommand({ RequestItems: { [this.tableName]: pending } }),
      );
      const left = unprocessed?.[this.tableName] ?? [];
      if (left.length === 0) return;
      if (attempt >= this.maxBatchAttempts) {
        throw new CertrotateError(
          `DynamoDB left ${left.length} of ${requests.length} ${what} unprocessed in table ${this.tableName} after ${attempt} attempts (throttled): the others were written; retrying is safe, the writes are idempotent`,
        );
      }
      pending = left;
      // Full jitter: writers that were throttled together do not retry together.
      const ceiling = this.batchRetryBaseDelayMs * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }
}

function leafItem(row: LeafInventoryRow): Record<string, AttributeValue> {
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

function historySortKey(sequence: number): string {
  return `${HISTORY_PREFIX}${String(sequence).padStart(SEQUENCE_DIGITS, '0')}`;
}

function checkSequence(sequence: number): void {
  if (!Number.isSafeInteger(sequence) || sequence < 0 || String(sequence).length > SEQUENCE_DIGITS) {
    throw new ValidationError(`A history sequence number must be an integer from 0 to ${'9'.repeat(SEQUENCE_DIGITS)}, got ${sequence}`);
  }
}

/** Trusted like the state itself: only archiveHistory writes these items. */
function decodeHistoryEntry(item: Record<string, AttributeValue>, tableName: string): Transition {
  const text = item.entry?.S;
  try {
    if (text !== undefined) return JSON.parse(text) as Transition;
  } catch {
    // reported below
  }
  throw new CertrotateError(`An archived history entry in table ${tableName} (pk ${item[PARTITION_KEY]?.S ?? '?'}, sk ${item[SORT_KEY]?.S ?? '?'}) is not valid JSON`);
}

function finiteNumber(value: number, field: string, row: LeafInventoryRow): string {
  if (!Number.isFinite(value)) {
    throw new ValidationError(
      `Inventory row for leaf "${row.id}" of authority "${row.authority}" has a non-finite ${field}: ${value}`,
    );
  }
  return String(value);
}

function decodeLeafRow(item: Record<string, AttributeValue>, tableName: string): LeafInventoryRow {
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

/**
 * The default parseState: the one place a stored document is taken to be S unchecked. Sound as
 * long as only writeState (typed S) writes the attribute; pass parseState to check instead.
 */
function trustStoredState<S>(value: unknown): S {
  return value as S;
}
