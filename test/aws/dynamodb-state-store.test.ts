import {
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ResourceNotFoundException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { BatchWriteItemCommandOutput, WriteRequest } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbStateStore, createStateTable } from '../../lib/aws/dynamodb-state-store.js';
import { STATE_SORT_KEY, STATE_TABLE_SCHEMA, authorityPartitionKey } from '../../lib/table-schema.js';
import { CertrotateError, ConflictError, ValidationError } from '../../lib/errors.js';
import { startLocalDynamoDB } from '../../lib/local/dynalite.js';
import type { LocalDynamoDB } from '../../lib/local/dynalite.js';
import type { LeafInventoryRow } from '../../lib/ports.js';
import type { Transition } from '../../lib/rotation/index.js';
import { renewAt } from '../../lib/renewal/index.js';

interface RotationState {
  generation: number;
  phase: string;
  consumers: Record<string, { holds: number[]; at: number }>;
  history: { phase: string; since: number; note?: string }[];
  paused: boolean;
  emergency: null;
}

const TABLE = 'certrotate-state';
const HOUR = 3_600_000;
const NOW = Date.UTC(2030, 0, 1);

let local: LocalDynamoDB;
let client: DynamoDBClient;
let store: DynamoDbStateStore<RotationState>;
let authorities = 0;

/** Every test works on its own authority, so tests never see each other's items. */
function freshAuthority(): string {
  authorities += 1;
  return `test-${authorities}`;
}

function newClient(): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: local.endpoint,
    region: 'us-east-1',
    credentials: local.credentials,
  });
}

function sampleState(generation: number): RotationState {
  return {
    generation,
    phase: 'TrustExpanded',
    consumers: { 'web/api': { holds: [generation - 1, generation], at: NOW } },
    history: [
      { phase: 'Prepared', since: NOW - 2 * HOUR, note: 'due: CA expires in 29 days' },
      { phase: 'TrustExpanded', since: NOW - HOUR },
    ],
    paused: false,
    emergency: null,
  };
}

function row(authority: string, index: number, renewAt: number): LeafInventoryRow {
  return {
    authority,
    id: `leaf-${String(index).padStart(4, '0')}`,
    renewAt,
    notAfter: renewAt + 24 * HOUR,
    generation: 1,
    serialHex: index.toString(16).padStart(32, '0'),
    fingerprintSha256: `fp-${index}`,
  };
}

function byId(a: LeafInventoryRow, b: LeafInventoryRow): number {
  return a.id.localeCompare(b.id);
}

/** The rows due by `now`, as a scan reads them. */
async function dueRows(authority: string, now: number): Promise<LeafInventoryRow[]> {
  return (await store.readEarliestLeafRows(authority, HOUR, now)).filter((r) => r.renewAt <= now);
}

async function rawAuthorityItem(authority: string) {
  const { Item } = await client.send(
    new GetItemCommand({
      TableName: TABLE,
      Key: { pk: { S: authorityPartitionKey(authority) }, sk: { S: STATE_SORT_KEY } },
      ConsistentRead: true,
    }),
  );
  return Item;
}

beforeAll(async () => {
  local = await startLocalDynamoDB();
  client = newClient();
  await createStateTable(client, TABLE);
  store = new DynamoDbStateStore<RotationState>({ client, tableName: TABLE });
});

afterAll(async () => {
  client.destroy();
  await local.stop();
});

describe('createStateTable', () => {
  it('creates the table with the exported key schema and the due index', async () => {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: TABLE }));
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: STATE_TABLE_SCHEMA.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: STATE_TABLE_SCHEMA.sortKey.name, KeyType: 'RANGE' },
    ]);
    const index = Table?.GlobalSecondaryIndexes?.find(
      (gsi) => gsi.IndexName === STATE_TABLE_SCHEMA.dueIndex.indexName,
    );
    expect(index?.KeySchema).toEqual([
      { AttributeName: 'dueKey', KeyType: 'HASH' },
      { AttributeName: 'renewAt', KeyType: 'RANGE' },
    ]);
    expect(index?.Projection?.ProjectionType).toBe('ALL');
  });

  it('accepts a table that already exists', async () => {
    await expect(createStateTable(client, TABLE)).resolves.toBeUndefined();
  });
});

describe('state', () => {
  it('round-trips a nested state and starts at version 1', async () => {
    const authority = freshAuthority();
    const state = sampleState(2);
    expect(await store.readState(authority)).toBeUndefined();
    expect(await store.writeState(authority, state, undefined)).toBe(1);
    expect(await store.readState(authority)).toEqual({ state, version: 1 });
  });

  it('increments the version on every write', async () => {
    const authority = freshAuthority();
    let version = await store.writeState(authority, sampleState(1), undefined);
    for (let generation = 2; generation <= 4; generation++) {
      version = await store.writeState(authority, sampleState(generation), version);
    }
    expect(version).toBe(4);
    expect(await store.readState(authority)).toEqual({ state: sampleState(4), version: 4 });
  });

  it('rejects a stale expectedVersion with a ConflictError naming the authority and version, and keeps the stored state', async () => {
    const authority = freshAuthority();
    await store.writeState(authority, sampleState(1), undefined);
    await store.writeState(authority, sampleState(2), 1);

    const stale = store.writeState(authority, sampleState(99), 1);
    await expect(stale).rejects.toBeInstanceOf(ConflictError);
    await expect(stale).rejects.toThrow(`"${authority}" is no longer at version 1`);
    expect(await store.readState(authority)).toEqual({ state: sampleState(2), version: 2 });
  });

  it('rejects creating a state that already exists', async () => {
    const authority = freshAuthority();
    await store.writeState(authority, sampleState(1), undefined);
    const create = store.writeState(authority, sampleState(7), undefined);
    await expect(create).rejects.toBeInstanceOf(ConflictError);
    await expect(create).rejects.toThrow(`"${authority}" was expected not to exist yet`);
    expect(await store.readState(authority)).toEqual({ state: sampleState(1), version: 1 });
  });

  it('rejects an expectedVersion when no state exists yet', async () => {
    const authority = freshAuthority();
    await expect(store.writeState(authority, sampleState(1), 1)).rejects.toBeInstanceOf(
      ConflictError,
    );
    expect(await store.readState(authority)).toBeUndefined();
  });

  it('lets exactly one of several concurrent writers from the same version win', async () => {
    const authority = freshAuthority();
    await store.writeState(authority, sampleState(1), undefined);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.writeState(authority, sampleState(10 + i), 1)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const r of lost) expect(r.reason).toBeInstanceOf(ConflictError);
    expect((await store.readState(authority))?.version).toBe(2);
  });

  it('re-throws errors other than a failed condition unchanged', async () => {
    const missing = new DynamoDbStateStore<RotationState>({ client, tableName: 'no-such-table' });
    await expect(missing.writeState('a', sampleState(1), undefined)).rejects.toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it('checks stored documents with parseState when one is given', async () => {
    const authority = freshAuthority();
    await store.writeState(authority, sampleState(1), undefined);
    const strict = new DynamoDbStateStore<{ generation: number }>({
      client,
      tableName: TABLE,
      parseState: (value) => {
        if (typeof value === 'object' && value !== null && 'generation' in value) {
          const { generation } = value;
          if (typeof generation === 'number') return { generation };
        }
        throw new ValidationError('not a state');
      },
    });
    expect(await strict.readState(authority)).toEqual({ state: { generation: 1 }, version: 1 });
  });

  it('refuses a state that is not JSON-serializable and writes nothing', async () => {
    const authority = freshAuthority();
    const functions = new DynamoDbStateStore<() => void>({ client, tableName: TABLE });
    await expect(functions.writeState(authority, () => undefined, undefined)).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(await rawAuthorityItem(authority)).toBeUndefined();
  });

  it('lists the authorities that have a state, not those with only a lease', async () => {
    const tableName = 'list-authorities';
    await createStateTable(client, tableName);
    const listing = new DynamoDbStateStore<RotationState>({ client, tableName, pageSize: 2 });
    for (const name of ['etcd', 'cluster', 'front-proxy']) {
      await listing.writeState(name, sampleState(1), undefined);
    }
    await listing.acquireLease('lease-only', 'tick-1', NOW, HOUR);
    await listing.putLeafRows([row('rows-only', 1, NOW)]);
    expect(await listing.listAuthorities()).toEqual(['cluster', 'etcd', 'front-proxy']);
  });
});

describe('lease', () => {
  it('grants exactly one of 10 concurrent acquisitions by different owners', async () => {
    const authority = freshAuthority();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => store.acquireLease(authority, `tick-${i}`, NOW, HOUR)),
    );
    expect(results.filter((result) => result !== undefined)).toHaveLength(1);
    const winner = results.findIndex((result) => result !== undefined);
    expect((await rawAuthorityItem(authority))?.leaseOwner?.S).toBe(`tick-${winner}`);
  });

  it('works before any state exists, and readState still says there is none', async () => {
    const authority = freshAuthority();
    expect(await store.acquireLease(authority, 'tick-a', NOW, HOUR)).toEqual({ stored: undefined });
    expect(await store.readState(authority)).toBeUndefined();
    expect(await store.writeState(authority, sampleState(1), undefined)).toBe(1);
  });

  it('refuses another owner while the lease runs, including at its last millisecond', async () => {
    const authority = freshAuthority();
    await store.acquireLease(authority, 'tick-a', NOW, HOUR);
    expect(await store.acquireLease(authority, 'tick-b', NOW + 1, HOUR)).toBeUndefined();
    expect(await store.acquireLease(authority, 'tick-b', NOW + HOUR, HOUR)).toBeUndefined();
  });

  it('lets another owner take an expired lease', async () => {
    const authority = freshAuthority();
    await store.acquireLease(authority, 'tick-a', NOW, HOUR);
    expect(await store.acquireLease(authority, 'tick-b', NOW + HOUR + 1, HOUR)).toBeDefined();
    expect(await store.acquireLease(authority, 'tick-a', NOW + HOUR + 2, HOUR)).toBeUndefined();
  });

  it('lets the holder extend its own lease', async () => {
    const authority = freshAuthority();
    await store.acquireLease(authority, 'tick-a', NOW, HOUR);
    expect(await store.acquireLease(authority, 'tick-a', NOW + HOUR / 2, HOUR)).toBeDefined();
    expect((await rawAuthorityItem(authority))?.leaseUntil?.N).toBe(String(NOW + HOUR / 2 + HOUR));
    // Extended: still held past the original expiry.
    expect(await store.acquireLease(authority, 'tick-b', NOW + HOUR + 1, HOUR)).toBeUndefined();
  });

  it('ignores a release by a non-owner, and frees the lease on release by its owner', async () => {
    const authority = freshAuthority();
    await store.acquireLease(authority, 'tick-a', NOW, HOUR);
    await store.releaseLease(authority, 'tick-b');
    expect(await store.acquireLease(authority, 'tick-b', NOW + 1, HOUR)).toBeUndefined();
    await store.releaseLease(authority, 'tick-a');
    expect(await store.acquireLease(authority, 'tick-b', NOW + 2, HOUR)).toBeDefined();
  });

  it('treats releasing a lease nobody holds as a no-op', async () => {
    const authority = freshAuthority();
    await expect(store.releaseLease(authority, 'tick-a')).resolves.toBeUndefined();
    expect(await rawAuthorityItem(authority)).toBeUndefined();
  });

  it('keeps the lease when the state is written, and the state when the lease is released', async () => {
    const authority = freshAuthority();
    await store.acquireLease(authority, 'tick-a', NOW, HOUR);
    const v1 = await store.writeState(authority, sampleState(1), undefined);
    await store.writeState(authority, sampleState(2), v1);
    const item = await rawAuthorityItem(authority);
    expect(item?.leaseOwner?.S).toBe('tick-a');
    expect(item?.leaseUntil?.N).toBe(String(NOW + HOUR));
    expect(await store.acquireLease(authority, 'tick-b', NOW + 1, HOUR)).toBeUndefined();

    await store.releaseLease(authority, 'tick-a');
    expect(await store.readState(authority)).toEqual({ state: sampleState(2), version: 2 });
  });

  it('returns the state stored when the lease is taken, in the same call', async () => {
    const authority = freshAuthority();
    const version = await store.writeState(authority, sampleState(3), undefined);
    expect(await store.acquireLease(authority, 'tick-a', NOW, HOUR)).toEqual({ stored: { state: sampleState(3), version } });
    await store.writeState(authority, sampleState(4), version);
    // Extending it reads again: the state as it is now.
    expect(await store.acquireLease(authority, 'tick-a', NOW + 1, HOUR)).toEqual({ stored: { state: sampleState(4), version: version + 1 } });
  });

  it('refuses a stored state it cannot read and leaves the lease free, not held by a caller who never got it', async () => {
    const authority = freshAuthority();
    await store.writeState(authority, sampleState(1), undefined);
    await client.send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: { pk: { S: authorityPartitionKey(authority) }, sk: { S: STATE_SORT_KEY } },
        UpdateExpression: 'SET #state = :state',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':state': { S: '{"generation": 1, "pha' } },
      }),
    );
    await expect(store.acquireLease(authority, 'tick-a', NOW, HOUR)).rejects.toThrow(/stored state of authority "test-\d+" \(version 1\) .* is not valid JSON/);
    const item = await rawAuthorityItem(authority);
    expect(item?.leaseOwner).toBeUndefined();
    expect(item?.leaseUntil).toBeUndefined();
  });

  it('rejects a non-positive duration', async () => {
    await expect(store.acquireLease(freshAuthority(), 'tick-a', NOW, 0)).rejects.toBeInstanceOf(
      ValidationError,
    );
  });
});

describe('leaf inventory', () => {
  it('returns exactly the rows with renewAt <= now, over many pages, and none of another authority', async () => {
    const authority = freshAuthority();
    const neighbour = freshAuthority();
    const counting = newClient();
    const queries = countCommands(counting, 'QueryCommand');
    const paged = new DynamoDbStateStore<RotationState>({
      client: counting,
      tableName: TABLE,
      pageSize: 7,
    });
    // 300 rows, one a minute around NOW: rows 0..150 are due (row 150 exactly at NOW).
    const rows = Array.from({ length: 300 }, (_, i) => row(authority, i, NOW + (i - 150) * 60_000));
    await paged.putLeafRows(rows);
    await paged.putLeafRows(
      Array.from({ length: 40 }, (_, i) => row(neighbour, i, NOW - HOUR)),
    );

    const read = await paged.readEarliestLeafRows(authority, HOUR, NOW);
    const due = read.filter((r) => r.renewAt <= NOW);
    expect(due.sort(byId)).toEqual(rows.filter((r) => r.renewAt <= NOW));
    expect(due).toHaveLength(151);
    // Then the rows within an hour of the first not due (row 151, a minute after NOW): 151..211.
    expect(read.filter((r) => r.renewAt > NOW).sort(byId)).toEqual(rows.slice(151, 212));
    // A first page of 100, then the table's pages of 7: the 212 rows and the one that ends the
    // read take 17 more pages, and no page past the one holding that row is read.
    expect(queries.count).toBe(1 + Math.ceil((212 + 1 - 100) / 7));

    const early = await paged.readEarliestLeafRows(authority, HOUR, NOW - 151 * 60_000);
    expect(early.filter((r) => r.renewAt <= NOW - 151 * 60_000)).toEqual([]);
    expect((await paged.readAllLeafRows(authority)).sort(byId)).toEqual(rows);
    counting.destroy();
  });

  it('finds the earliest expiry from the rows near the earliest renewAt, reading a page or two, never an intent row', async () => {
    const policy = { renewBeforeMs: 24 * HOUR, jitterWindowMs: HOUR };
    const counting = newClient();
    const read = countItemsRead(counting);
    const paged = new DynamoDbStateStore<RotationState>({ client: counting, tableName: TABLE });
    // Random fleets: 400 leaves expiring over 60 days, renewAt from each leaf's own jitter (as the
    // engine writes them), and intent rows (written before a leaf is issued) due right away.
    for (let fleet = 0; fleet < 5; fleet++) {
      const authority = freshAuthority();
      const rows = Array.from({ length: 400 }, (_, i) => {
        const id = `leaf-${fleet}-${i}`;
        const notAfter = NOW + Math.floor(Math.random() * 60 * 24) * HOUR + Math.floor(Math.random() * HOUR);
        return { ...row(authority, i, 0), id, notAfter, renewAt: renewAt(id, notAfter, policy) };
      });
      const intents = Array.from({ length: 5 }, (_, i) => ({ ...row(authority, 1000 + i, NOW - HOUR), notAfter: 0, serialHex: '', fingerprintSha256: '' }));
      await paged.putLeafRows([...rows, ...intents]);
      read.items = 0;
      const near = (await paged.readEarliestLeafRows(authority, policy.jitterWindowMs)).filter((r) => r.fingerprintSha256 !== '');
      expect(Math.min(...near.map((r) => r.notAfter))).toBe(Math.min(...rows.map((r) => r.notAfter)));
      // One page of 100 (the intent rows, the few within an hour of the earliest, then the one
      // that ends the read), not the 405 rows of the inventory.
      expect(read.items).toBe(100);
    }
    expect(await paged.readEarliestLeafRows(freshAuthority(), HOUR)).toEqual([]);
    counting.destroy();
  });

  it('writes 60 rows in batches and reads them all back', async () => {
    const authority = freshAuthority();
    const rows = Array.from({ length: 60 }, (_, i) => row(authority, i, NOW + i));
    await store.putLeafRows(rows);
    expect((await store.readAllLeafRows(authority)).sort(byId)).toEqual(rows);
  });

  it('overwrites a row with the same id, and writes a row given twice once (the last wins)', async () => {
    const authority = freshAuthority();
    await store.putLeafRows([row(authority, 1, NOW)]);
    const renewed = { ...row(authority, 1, NOW + 30 * 24 * HOUR), generation: 2 };
    await store.putLeafRows([{ ...renewed, serialHex: 'stale' }, renewed]);
    expect(await store.readAllLeafRows(authority)).toEqual([renewed]);
    expect(await dueRows(authority, NOW)).toEqual([]);
  });

  it('deletes one row and leaves the others; deleting it again is harmless', async () => {
    const authority = freshAuthority();
    const rows = [row(authority, 1, NOW), row(authority, 2, NOW)];
    await store.putLeafRows(rows);
    await store.deleteLeafRow(authority, rows[0]?.id ?? '');
    await store.deleteLeafRow(authority, rows[0]?.id ?? '');
    expect(await store.readAllLeafRows(authority)).toEqual([rows[1]]);
    expect(await dueRows(authority, NOW)).toEqual([rows[1]]);
  });

  it('keeps leaf rows out of the state and the state out of the rows', async () => {
    const authority = freshAuthority();
    await store.putLeafRows([row(authority, 1, NOW)]);
    expect(await store.readState(authority)).toBeUndefined();
    await store.writeState(authority, sampleState(1), undefined);
    expect(await store.readAllLeafRows(authority)).toEqual([row(authority, 1, NOW)]);
  });

  it('resends the items DynamoDB leaves unprocessed until all are written', async () => {
    const authority = freshAuthority();
    const flaky = newClient();
    const calls = dropHalfOfEachBatchWrite(flaky, 2);
    try {
      const retrying = new DynamoDbStateStore<RotationState>({
        client: flaky,
        tableName: TABLE,
        batchRetryBaseDelayMs: 1,
      });
      const rows = Array.from({ length: 30 }, (_, i) => row(authority, i, NOW));
      await retrying.putLeafRows(rows);
      expect(calls.count).toBeGreaterThan(2);
      expect((await store.readAllLeafRows(authority)).sort(byId)).toEqual(rows);
    } finally {
      flaky.destroy();
    }
  });

  it('fails loudly, naming the count, when items stay unprocessed past the attempt limit', async () => {
    const authority = freshAuthority();
    const throttled = newClient();
    dropHalfOfEachBatchWrite(throttled, Number.POSITIVE_INFINITY);
    try {
      const giving = new DynamoDbStateStore<RotationState>({
        client: throttled,
        tableName: TABLE,
        maxBatchAttempts: 3,
        batchRetryBaseDelayMs: 1,
      });
      const write = giving.putLeafRows(Array.from({ length: 8 }, (_, i) => row(authority, i, NOW)));
      await expect(write).rejects.toBeInstanceOf(CertrotateError);
      await expect(write).rejects.toThrow(/left 1 of 8 inventory rows unprocessed .* after 3 attempts/);
    } finally {
      throttled.destroy();
    }
  });

  it('rejects a row with a non-finite renewAt before writing anything', async () => {
    const authority = freshAuthority();
    await expect(
      store.putLeafRows([row(authority, 1, NOW), row(authority, 2, Number.NaN)]),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(await store.readAllLeafRows(authority)).toEqual([]);
  });
});

describe('history archive', () => {
  function transition(sequence: number): Transition {
    return { from: 'Stable', to: 'Stable', at: NOW + sequence, why: `paused, entry ${sequence}`, by: { kind: 'command', command: 'pause', requestId: `r-${sequence}` }, generation: 1 };
  }
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => transition(from + i));

  it('reads back what was archived in several parts, oldest first, across pages', async () => {
    const authority = freshAuthority();
    const paged = new DynamoDbStateStore<RotationState>({ client, tableName: TABLE, pageSize: 7 });
    await paged.archiveHistory(authority, 0, range(0, 30));
    await paged.archiveHistory(authority, 30, range(30, 45));
    expect(await paged.readArchivedHistory(authority, 45)).toEqual(range(0, 45));
  });

  it('reads only the sequences below the mark it is given (the state\'s archivedHistory), ignoring any written past it', async () => {
    const authority = freshAuthority();
    await store.archiveHistory(authority, 0, range(0, 12));
    expect(await store.readArchivedHistory(authority, 10)).toEqual(range(0, 10));
    expect(await store.readArchivedHistory(authority, 0)).toEqual([]);
  });

  it('finds an archived command by its request id, and nothing for a request it never archived', async () => {
    const authority = freshAuthority();
    const scheduled: Transition = { from: 'Stable', to: 'Prepared', at: NOW, why: 'CA 1 expires in 29 days', by: { kind: 'schedule' }, generation: 1, target: 2 };
    await store.archiveHistory(authority, 0, [transition(0), scheduled, transition(2)]);
    expect(await store.readArchivedCommand(authority, 'r-2')).toEqual(transition(2));
    expect(await store.readArchivedCommand(authority, 'r-1')).toBeUndefined();
    expect(await store.readArchivedCommand(freshAuthority(), 'r-0')).toBeUndefined();
    expect(await store.readArchivedHistory(authority, 3)).toEqual([transition(0), scheduled, transition(2)]);
  });

  it('treats archiving the same entries again as a no-op', async () => {
    const authority = freshAuthority();
    await store.archiveHistory(authority, 0, range(0, 5));
    await store.archiveHistory(authority, 0, range(0, 5));
    expect(await store.readArchivedHistory(authority, 5)).toEqual(range(0, 5));
  });

  it('says so when archived entries are missing, rather than returning a history with a hole', async () => {
    const authority = freshAuthority();
    await store.archiveHistory(authority, 0, range(0, 3));
    await expect(store.readArchivedHistory(authority, 4)).rejects.toThrow(/has 3 of its 4 entries/);
  });

  it('keeps archived entries out of the leaf inventory, the due scan and the authority list', async () => {
    const authority = freshAuthority();
    await store.archiveHistory(authority, 0, range(0, 3));
    await store.putLeafRows([row(authority, 1, NOW - HOUR)]);
    expect(await store.readAllLeafRows(authority)).toEqual([row(authority, 1, NOW - HOUR)]);
    expect(await dueRows(authority, NOW)).toEqual([row(authority, 1, NOW - HOUR)]);
    expect(await store.listAuthorities()).not.toContain(authority);
    expect(await store.readState(authority)).toBeUndefined();
  });

  it('rejects a sequence number that is negative or not an integer', async () => {
    const authority = freshAuthority();
    await expect(store.archiveHistory(authority, -1, range(0, 1))).rejects.toBeInstanceOf(ValidationError);
    await expect(store.readArchivedHistory(authority, 1.5)).rejects.toBeInstanceOf(ValidationError);
  });
});

/** Counts the calls of one command made through `client`. */
/** Items the client's Query calls returned. */
function countItemsRead(client: DynamoDBClient): { items: number } {
  const read = { items: 0 };
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const output = result.output as { Items?: unknown[] };
      read.items += output.Items?.length ?? 0;
      return result;
    },
    { step: 'initialize', name: 'countItemsRead' },
  );
  return read;
}

function countCommands(client: DynamoDBClient, commandName: string): { count: number } {
  const calls = { count: 0 };
  client.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === commandName) calls.count += 1;
      return next(args);
    },
    { step: 'initialize', name: `count${commandName}` },
  );
  return calls;
}

/**
 * Makes `client`'s next `times` BatchWriteItem calls send only the first half of their items and
 * report the rest as UnprocessedItems, the way DynamoDB does under throttling.
 */
function dropHalfOfEachBatchWrite(client: DynamoDBClient, times: number): { count: number } {
  const calls = { count: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input;
      if (context.commandName !== 'BatchWriteItemCommand' || !('RequestItems' in input)) {
        return next(args);
      }
      calls.count += 1;
      if (calls.count > times) return next(args);
      const forTable = input.RequestItems?.[TABLE];
      // BatchGetItem's input also has RequestItems, but not as an array.
      const requests: WriteRequest[] = Array.isArray(forTable) ? forTable : [];
      const keep = requests.slice(0, Math.ceil(requests.length / 2));
      const drop = requests.slice(keep.length);
      const result = await next({ ...args, input: { ...input, RequestItems: { [TABLE]: keep } } });
      const output: BatchWriteItemCommandOutput = {
        $metadata: result.output.$metadata,
        UnprocessedItems: drop.length > 0 ? { [TABLE]: drop } : {},
      };
      return { ...result, output };
    },
    { step: 'initialize', name: 'dropHalfOfEachBatchWrite' },
  );
  return calls;
}
