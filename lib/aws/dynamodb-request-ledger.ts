/**
 * The RequestLedger port on DynamoDB: one item per operator request that the rotation history does not
 * already make idempotent (today: `renew`). A retried request id finds its item and replays the
 * recorded result instead of reissuing again; a request that crashed half way resumes.
 *
 * Items live in the state table beside the authority's state: pk `authority#<name>`, sk
 * `request#<requestId>`. They carry no `dueKey`, so the sparse `due` index never sees them, and
 * `expiresAt` (epoch seconds) lets DynamoDB's TTL delete them after 30 days.
 */
import { GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CertrotateError } from '../errors.js';
import type { LedgerEntry, RequestLedger } from '../ports.js';
import { LEDGER_TTL_ATTRIBUTE, PARTITION_KEY, SORT_KEY, authorityPartitionKey, requestSortKey } from '../table-schema.js';
import { isConditionalCheckFailed } from './dynamodb-errors.js';

const RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

function key(authority: string, requestId: string): Record<string, AttributeValue> {
  return { [PARTITION_KEY]: { S: authorityPartitionKey(authority) }, [SORT_KEY]: { S: requestSortKey(requestId) } };
}

export class DynamoDbRequestLedger implements RequestLedger {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  async begin(entry: Omit<LedgerEntry, 'result'>): Promise<{ entry: LedgerEntry; created: boolean }> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: {
            ...key(entry.authority, entry.requestId),
            intent: { S: entry.intent },
            startedAt: { N: String(entry.startedAt) },
            [LEDGER_TTL_ATTRIBUTE]: { N: String(Math.floor((entry.startedAt + RETENTION_MS) / 1000)) },
          },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY },
        }),
      );
      return { entry, created: true };
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
    }
    const found = await this.find(entry.authority, entry.requestId);
    if (found === undefined) {
      throw new CertrotateError(`request ${entry.requestId} of authority ${entry.authority} is recorded in table ${this.#tableName} but unreadable`);
    }
    return { entry: found, created: false };
  }

  async find(authority: string, requestId: string): Promise<LedgerEntry | undefined> {
    const { Item: item } = await this.#client.send(new GetItemCommand({ TableName: this.#tableName, Key: key(authority, requestId), ConsistentRead: true }));
    if (item === undefined) return undefined;
    const intent = item.intent?.S;
    const startedAt = Number(item.startedAt?.N);
    if (intent === undefined || !Number.isFinite(startedAt)) {
      throw new CertrotateError(`request ${requestId} of authority ${authority} is recorded in table ${this.#tableName} but unreadable`);
    }
    const result = item.result?.S;
    const found: LedgerEntry = { authority, requestId, intent, startedAt };
    if (result !== undefined) found.result = result;
    return found;
  }

  async complete(authority: string, requestId: string, result: string): Promise<boolean> {
    try {
      await this.#client.send(
        new UpdateItemCommand({
          TableName: this.#tableName,
          Key: key(authority, requestId),
          UpdateExpression: 'SET #result = :result',
          ConditionExpression: 'attribute_not_exists(#result)',
          ExpressionAttributeNames: { '#result': 'result' },
          ExpressionAttributeValues: { ':result': { S: result } },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }
}
