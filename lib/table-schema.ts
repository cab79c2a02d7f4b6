/**
 * What certrotate stores in its DynamoDB table, as plain data with no SDK: the keys, the `due`
 * index and the sort-key layout. The CDK construct builds the table from this (infra must not load
 * an SDK client), and the adapters in lib/aws read and write by it.
 *
 * | item            | pk                 | sk                     |
 * |-----------------|--------------------|------------------------|
 * | authority state | `authority#<name>` | `state`                |
 * | leaf row        | `authority#<name>` | `leaf#<id>`            |
 * | history entry   | `authority#<name>` | `history#<n>`          |
 * | archived command| `authority#<name>` | `command#<requestId>`  |
 * | request ledger  | `authority#<name>` | `request#<requestId>`  |
 */
import { ValidationError } from './errors.js';

/**
 * The table's keys and index as plain data, so the CDK construct builds the same table that
 * createStateTable does (`type` is DynamoDB's attribute type, which equals CDK's AttributeType
 * values 'S' and 'N').
 */
export const STATE_TABLE_SCHEMA = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  dueIndex: {
    indexName: 'due',
    partitionKey: { name: 'dueKey', type: 'S' },
    sortKey: { name: 'renewAt', type: 'N' },
    /** ALL: a due scan gets whole rows from the index without a second read. */
    projection: 'ALL',
  },
} as const;

export const PARTITION_KEY = STATE_TABLE_SCHEMA.partitionKey.name;
export const SORT_KEY = STATE_TABLE_SCHEMA.sortKey.name;
export const DUE_INDEX_NAME = STATE_TABLE_SCHEMA.dueIndex.indexName;
export const DUE_INDEX_PARTITION_KEY = STATE_TABLE_SCHEMA.dueIndex.partitionKey.name;
export const DUE_INDEX_SORT_KEY = STATE_TABLE_SCHEMA.dueIndex.sortKey.name;

export const AUTHORITY_PREFIX = 'authority#';
/** Sort key of the authority item (state, version, lease). */
export const STATE_SORT_KEY = 'state';
export const LEAF_PREFIX = 'leaf#';

/** Partition key of everything stored for an authority. */
export function authorityPartitionKey(authority: string): string {
  if (authority.length === 0) throw new ValidationError('An authority name must not be empty');
  return `${AUTHORITY_PREFIX}${authority}`;
}

/** Sort key of a leaf's inventory row. */
export function leafSortKey(id: string): string {
  if (id.length === 0) throw new ValidationError('A leaf id must not be empty');
  return `${LEAF_PREFIX}${id}`;
}

/** Epoch seconds after which DynamoDB's TTL deletes a request-ledger item. */
export const LEDGER_TTL_ATTRIBUTE = 'expiresAt';

/** Sort key of a request-ledger item. */
export function requestSortKey(requestId: string): string {
  if (requestId.length === 0) throw new ValidationError('A request id must not be empty');
  return `request#${requestId}`;
}
