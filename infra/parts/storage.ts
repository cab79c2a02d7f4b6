/**
 * What certrotate keeps: one customer-managed KMS key (the table, the secrets, the failure queue
 * and the alarm topic), the state table with its due-leaf index, the failure queue, and the alarm
 * topic when the caller brings none. Each is created directly in the CertificateRotation scope,
 * so its construct path, and with it its logical ID, is the one it always had.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LEDGER_TTL_ATTRIBUTE, STATE_TABLE_SCHEMA } from '../../lib/table-schema.js';

/** The one key: CA and leaf private keys in Secrets Manager, rotation state, queued failures, alarms. */
export function encryptionKey(scope: Construct): kms.Key {
  const key = new kms.Key(scope, 'Key', {
    description: 'certrotate: CA and leaf private keys in Secrets Manager, rotation state in DynamoDB',
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  // CloudWatch alarms publish to the encrypted topic.
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
  );
  return key;
}

/** Rotation state, the leaf inventory and the request ledger, laid out as lib/table-schema.ts says. */
export function stateTable(scope: Construct, key: kms.IKey): dynamodb.Table {
  const { partitionKey, sortKey, dueIndex } = STATE_TABLE_SCHEMA;
  const table = new dynamodb.Table(scope, 'State', {
    partitionKey: { name: partitionKey.name, type: dynamodb.AttributeType.STRING },
    sortKey: { name: sortKey.name, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: true,
    removalPolicy: RemovalPolicy.RETAIN,
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey: key,
    timeToLiveAttribute: LEDGER_TTL_ATTRIBUTE,
  });
  table.addGlobalSecondaryIndex({
    indexName: dueIndex.indexName,
    partitionKey: { name: dueIndex.partitionKey.name, type: dynamodb.AttributeType.STRING },
    sortKey: { name: dueIndex.sortKey.name, type: dynamodb.AttributeType.NUMBER },
    projectionType: dynamodb.ProjectionType.ALL,
  });
  return table;
}

/** Schedules that could not invoke, and asynchronous invocations that failed every retry. */
export function failureQueue(scope: Construct, key: kms.IKey): sqs.Queue {
  const queue = new sqs.Queue(scope, 'Failures', {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: key,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions::AwsSolutions-SQS3',
    reason: 'This queue is the dead-letter queue (of the schedules and the functions); a DLQ of a DLQ adds nothing.',
  });
  return queue;
}

/** The caller's topic, or one encrypted with the key (with `email` subscribed when given). */
export function alarmTopic(scope: Construct, key: kms.IKey, options: { topic?: sns.ITopic; email?: string }): sns.ITopic {
  if (options.topic !== undefined) return options.topic;
  const topic = new sns.Topic(scope, 'Alarms', { displayName: 'certrotate alarms', masterKey: key, enforceSSL: true });
  if (options.email !== undefined) topic.addSubscription(new subscriptions.EmailSubscription(options.email));
  return topic;
}

/** The CfnTable behind a Table (cdk-nag names the table's index ARN by its logical ID). */
export function tableResource(table: dynamodb.Table): dynamodb.CfnTable {
  const resource = table.node.defaultChild;
  if (!(resource instanceof dynamodb.CfnTable)) throw new Error('unreachable: a Table is backed by a CfnTable');
  return resource;
}
