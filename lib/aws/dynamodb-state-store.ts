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
 *
 * Each kind of item has its module: dynamodb-authority-item.ts (state, lease, listing),
 * dynamodb-leaf-inventory.ts, dynamodb-history-archive.ts; this class puts them behind the port.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { LeafInventoryRow, LeaseTaken, StateStore, VersionedState } from '../ports.js';
import type { Transition } from '../rotation/types.js';
import * as authorityItem from './dynamodb-authority-item.js';
import * as historyArchive from './dynamodb-history-archive.js';
import * as leafInventory from './dynamodb-leaf-inventory.js';
import type { StateTable } from './dynamodb-table-io.js';

export { createStateTable } from './dynamodb-create-table.js';

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
  readonly #table: StateTable;
  readonly #parseState: (value: unknown) => S;

  constructor(options: DynamoDbStateStoreOptions<S>) {
    this.#table = {
      client: options.client,
      tableName: options.tableName,
      pageSize: options.pageSize,
      maxBatchAttempts: options.maxBatchAttempts ?? 8,
      batchRetryBaseDelayMs: options.batchRetryBaseDelayMs ?? 50,
      batchConcurrency: options.batchConcurrency ?? 4,
    };
    this.#parseState = options.parseState ?? trustStoredState;
  }

  readState(authority: string): Promise<VersionedState<S> | undefined> {
    return authorityItem.readState(this.#table, this.#parseState, authority);
  }

  writeState(authority: string, state: S, expectedVersion: number | undefined): Promise<number> {
    return authorityItem.writeState(this.#table, authority, state, expectedVersion);
  }

  acquireLease(authority: string, owner: string, now: number, durationMs: number): Promise<LeaseTaken<S> | undefined> {
    return authorityItem.acquireLease(this.#table, this.#parseState, authority, owner, now, durationMs);
  }

  releaseLease(authority: string, owner: string): Promise<void> {
    return authorityItem.releaseLease(this.#table, authority, owner);
  }

  /** Authorities that have a state item, sorted (a filtered Scan of the whole table). */
  listAuthorities(): Promise<string[]> {
    return authorityItem.listAuthorities(this.#table);
  }

  putLeafRows(rows: readonly LeafInventoryRow[]): Promise<void> {
    return leafInventory.putLeafRows(this.#table, rows);
  }

  readAllLeafRows(authority: string): Promise<LeafInventoryRow[]> {
    return leafInventory.readAllLeafRows(this.#table, authority);
  }

  readEarliestLeafRows(authority: string, withinMs: number, dueBy?: number): Promise<LeafInventoryRow[]> {
    return leafInventory.readEarliestLeafRows(this.#table, authority, withinMs, dueBy);
  }

  deleteLeafRow(authority: string, id: string): Promise<void> {
    return leafInventory.deleteLeafRow(this.#table, authority, id);
  }

  archiveHistory(authority: string, firstSequence: number, entries: readonly Transition[]): Promise<void> {
    return historyArchive.archiveHistory(this.#table, authority, firstSequence, entries);
  }

  readArchivedCommand(authority: string, requestId: string): Promise<Transition | undefined> {
    return historyArchive.readArchivedCommand(this.#table, authority, requestId);
  }

  readArchivedHistory(authority: string, before: number): Promise<Transition[]> {
    return historyArchive.readArchivedHistory(this.#table, authority, before);
  }
}

/**
 * The default parseState: the one place a stored document is taken to be S unchecked. Sound as
 * long as only writeState (typed S) writes the attribute; pass parseState to check instead.
 */
function trustStoredState<S>(value: unknown): S {
  return value as S;
}
