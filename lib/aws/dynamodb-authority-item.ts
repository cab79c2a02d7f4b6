/**
 * The authority item (pk `authority#<name>`, sk `state`): the rotation state as one JSON string
 * with an optimistic version, and the lease, on the same item.
 */
import { GetItemCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, UpdateItemCommandInput } from '@aws-sdk/client-dynamodb';
import { CertrotateError, ConflictError, StoredDataError, ValidationError } from '../errors.js';
import type { LeaseTaken, VersionedState } from '../ports.js';
import { AUTHORITY_PREFIX, PARTITION_KEY, SORT_KEY, STATE_SORT_KEY, authorityPartitionKey } from '../table-schema.js';
import { isConditionalCheckFailed } from './dynamodb-errors.js';
import type { Item, StateTable } from './dynamodb-table-io.js';

const LEASE_NAMES = { '#owner': 'leaseOwner', '#until': 'leaseUntil' };

function authorityKey(authority: string): Item {
  return {
    [PARTITION_KEY]: { S: authorityPartitionKey(authority) },
    [SORT_KEY]: { S: STATE_SORT_KEY },
  };
}

type ConditionalUpdate = Required<
  Pick<UpdateItemCommandInput, 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'>
>;

/** Updates the authority item if the condition holds; returns DynamoDB's refusal when it did not. */
async function updateIf(table: StateTable, authority: string, update: ConditionalUpdate): Promise<unknown> {
  const outcome = await updateReturning(table, authority, update);
  return outcome.updated ? undefined : outcome.refusal;
}

/** Like updateIf, and returns the whole item as the update left it (UpdateItem's ALL_NEW). */
async function updateReturning(table: StateTable, authority: string, update: ConditionalUpdate): Promise<{ updated: true; item: Item | undefined } | { updated: false; refusal: unknown }> {
  try {
    const { Attributes: item } = await table.client.send(new UpdateItemCommand({ TableName: table.tableName, Key: authorityKey(authority), ...update, ReturnValues: 'ALL_NEW' }));
    return { updated: true, item };
  } catch (error) {
    if (isConditionalCheckFailed(error)) return { updated: false, refusal: error };
    throw error;
  }
}

export async function readState<S>(table: StateTable, parseState: (value: unknown) => S, authority: string): Promise<VersionedState<S> | undefined> {
  const { Item: item } = await table.client.send(
    new GetItemCommand({
      TableName: table.tableName,
      Key: authorityKey(authority),
      ConsistentRead: true,
      ProjectionExpression: '#state, #version',
      ExpressionAttributeNames: { '#state': 'state', '#version': 'version' },
    }),
  );
  return stateOfItem(table, parseState, authority, item);
}

/** The versioned state an authority item holds, checked; undefined when it holds none. */
function stateOfItem<S>(table: StateTable, parseState: (value: unknown) => S, authority: string, item: Item | undefined): VersionedState<S> | undefined {
  // An item holding only a lease (taken before the first state write) has no state yet.
  const text = item?.state?.S;
  if (item === undefined || text === undefined) return undefined;
  const version = Number(item.version?.N);
  const where = `(pk ${authorityPartitionKey(authority)}, sk ${STATE_SORT_KEY})`;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new StoredDataError(`The stored state of authority "${authority}" has no valid version in table ${table.tableName}: fix or delete the item ${where}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new StoredDataError(`The stored state of authority "${authority}" (version ${version}) in table ${table.tableName} is not valid JSON`, { cause });
  }
  try {
    return { state: parseState(document), version };
  } catch (cause) {
    if (!(cause instanceof CertrotateError)) throw cause;
    throw new StoredDataError(
      `The stored state of authority "${authority}" (version ${version}) in table ${table.tableName} is invalid; nothing was done with it. Fix or restore the item ${where}: ${cause.message}`,
      { cause },
    );
  }
}

/**
 * The state is stored as one JSON string rather than a DynamoDB map: the store never looks
 * inside it, a string round-trips any JSON value exactly (a map loses `undefined` members, caps
 * nesting at 32 levels and needs marshalling options), and the 400 KB item limit is the same.
 */
export async function writeState<S>(table: StateTable, authority: string, state: S, expectedVersion: number | undefined): Promise<number> {
  if (expectedVersion !== undefined && !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 1)) {
    throw new ValidationError(`expectedVersion for authority "${authority}" must be a positive integer or undefined, got ${expectedVersion}`);
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
  // UpdateItem, not PutItem: the lease attributes on the same item must survive.
  const refused = await updateIf(table, authority, {
    UpdateExpression: 'SET #state = :state, #version = :next',
    ConditionExpression: expectedVersion === undefined ? 'attribute_not_exists(#version)' : '#version = :expected',
    ExpressionAttributeNames: { '#state': 'state', '#version': 'version' },
    ExpressionAttributeValues: values,
  });
  if (refused !== undefined) {
    throw new ConflictError(
      expectedVersion === undefined
        ? `The state of authority "${authority}" was expected not to exist yet, but another writer created it: re-read and decide again`
        : `The state of authority "${authority}" is no longer at version ${expectedVersion}: another writer changed it; re-read and decide again`,
      { cause: refused },
    );
  }
  return nextVersion;
}

/**
 * Takes the lease when nobody holds it, when it expired (leaseUntil < now), or extends it when
 * `owner` already holds it. Works before any state exists: it then creates an item holding only
 * the lease.
 */
export async function acquireLease<S>(
  table: StateTable,
  parseState: (value: unknown) => S,
  authority: string,
  owner: string,
  now: number,
  durationMs: number,
): Promise<LeaseTaken<S> | undefined> {
  if (owner.length === 0) throw new ValidationError('A lease owner must not be empty');
  if (!Number.isFinite(now) || !Number.isFinite(durationMs) || durationMs <= 0) {
    throw new ValidationError(`A lease on authority "${authority}" needs a finite now and a positive duration, got now=${now}, durationMs=${durationMs}`);
  }
  const outcome = await updateReturning(table, authority, {
    UpdateExpression: 'SET #owner = :owner, #until = :until',
    ConditionExpression: 'attribute_not_exists(#until) OR #until < :now OR #owner = :owner',
    ExpressionAttributeNames: LEASE_NAMES,
    ExpressionAttributeValues: {
      ':owner': { S: owner },
      ':until': { N: String(now + durationMs) },
      ':now': { N: String(now) },
    },
  });
  if (!outcome.updated) return undefined;
  try {
    return { stored: stateOfItem(table, parseState, authority, outcome.item) };
  } catch (error) {
    // The caller gets no lease to release when the state it holds is unreadable: this call releases
    // it. Should that fail too, the unreadable state is still what the operator must hear about (the
    // lease expires on its own).
    await releaseLease(table, authority, owner).catch(() => undefined);
    throw error;
  }
}

/** Removes the lease if `owner` holds it; otherwise (someone else's, or none) does nothing. */
export async function releaseLease(table: StateTable, authority: string, owner: string): Promise<void> {
  await updateIf(table, authority, {
    UpdateExpression: 'REMOVE #owner, #until',
    ConditionExpression: '#owner = :owner',
    ExpressionAttributeNames: LEASE_NAMES,
    ExpressionAttributeValues: { ':owner': { S: owner } },
  });
}

/**
 * Authorities that have a state item, sorted. A filtered Scan: it reads the whole table, which
 * is fine for a handful of authorities but not for a per-request path.
 */
export async function listAuthorities(table: StateTable): Promise<string[]> {
  const names: string[] = [];
  let startKey: Item | undefined;
  do {
    const page = await table.client.send(
      new ScanCommand({
        TableName: table.tableName,
        ConsistentRead: true,
        ProjectionExpression: '#pk',
        FilterExpression: '#sk = :state AND attribute_exists(#version)',
        ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY, '#version': 'version' },
        ExpressionAttributeValues: { ':state': { S: STATE_SORT_KEY } },
        ExclusiveStartKey: startKey,
        Limit: table.pageSize,
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
