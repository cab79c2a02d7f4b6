import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgeEventSink } from '../../lib/aws/eventbridge-event-sink.js';
import { startMoto, type MotoServer } from './moto-server.js';

const REGION = 'eu-west-1';
const credentials = { accessKeyId: 'AKIDMOTOEVENTS000001', secretAccessKey: 'moto-events-secret' };
let moto: MotoServer;
let client: EventBridgeClient;

/** SQS through its JSON protocol (moto signs nothing back and checks no signature). */
async function sqs(operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const answer = await fetch(moto.endpoint, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': `AmazonSQS.${operation}`,
      Authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/20270101/${REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(input),
  });
  if (!answer.ok) throw new Error(`SQS ${operation}: ${answer.status} ${await answer.text()}`);
  return (await answer.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  moto = await startMoto();
  client = new EventBridgeClient({ region: REGION, endpoint: moto.endpoint, credentials });
});
afterAll(async () => {
  client.destroy();
  await moto.stop();
});

describe('EventBridgeEventSink against moto', () => {
  it('delivers 23 events in PutEvents calls moto accepts, to a rule on source certrotate', async () => {
    const { QueueUrl } = (await sqs('CreateQueue', { QueueName: 'certrotate-events' })) as { QueueUrl: string };
    const queueArn = `arn:aws:sqs:${REGION}:123456789012:certrotate-events`;
    await client.send(new PutRuleCommand({ Name: 'certrotate', EventPattern: JSON.stringify({ source: ['certrotate'] }) }));
    await client.send(new PutTargetsCommand({ Rule: 'certrotate', Targets: [{ Id: 'queue', Arn: queueArn }] }));

    const undelivered: number[] = [];
    const events = new EventBridgeEventSink({ client, onUndelivered: (count) => undelivered.push(count) });
    for (let i = 0; i < 22; i++) events.emit({ type: 'leaf-reissued', authority: 'cluster', detail: { leaf: `leaf-${i}`, generation: 2 } });
    events.emit({ type: 'phase-changed', authority: 'cluster', detail: { from: 'Stable', to: 'Prepared', generation: 1 } });
    await expect(events.flush()).resolves.toEqual({ undelivered: 0, reason: '' });
    expect(events.delivered).toBe(23);
    expect(undelivered).toEqual([]);

    const bodies: { source: string; 'detail-type': string; detail: Record<string, unknown> }[] = [];
    for (let round = 0; round < 10 && bodies.length < 23; round++) {
      const { Messages = [] } = (await sqs('ReceiveMessage', { QueueUrl, MaxNumberOfMessages: 10 })) as { Messages?: { Body: string }[] };
      bodies.push(...Messages.map((message) => JSON.parse(message.Body) as (typeof bodies)[number]));
    }
    expect(bodies).toHaveLength(23);
    expect(bodies.every((body) => body.source === 'certrotate')).toBe(true);
    expect(bodies.filter((body) => body['detail-type'] === 'Leaf Renewed').map((body) => body.detail.leaf).sort()).toEqual(Array.from({ length: 22 }, (_, i) => `leaf-${i}`).sort());
    expect(bodies.find((body) => body['detail-type'] === 'Rotation Phase Changed')?.detail).toEqual({ authority: 'cluster', from: 'Stable', to: 'Prepared', generation: 1 });
  });
});
