/** Creating certrotate's DynamoDB table (local runs and tests; deployments get it from the CDK construct). */
import { CreateTableCommand, ResourceInUseException, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { STATE_TABLE_SCHEMA } from '../table-schema.js';
import { isErrorNamed } from './dynamodb-errors.js';

/**
 * Creates the state table (on-demand billing) with the schema of lib/table-schema.ts and waits
 * until it is ACTIVE. An already existing table is accepted as is, so local runs can call this on
 * every start.
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
