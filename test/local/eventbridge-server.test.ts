import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEventBridge, type LocalEventBridge } from '../../lib/local/eventbridge/server.js';

let local: LocalEventBridge;
let client: EventBridgeClient;
beforeAll(async () => {
  local = await startLocalEventBridge({ region: 'eu-west-1' });
  client = new EventBridgeClient({ region: local.region, endpoint: local.endpoint, credentials: local.credentials, maxAttempts: 1 });
});
afterAll(async () => {
  client.destroy();
  await local.stop();
});

const entry = (detail: string) => ({ Source: 'certrotate', DetailType: 'Leaf Renewed', Detail: detail });

describe('the local EventBridge', () => {
  it('answers each entry in order: an EventId, or ErrorCode and ErrorMessage with FailedEntryCount', async () => {
    const answer = await client.send(new PutEventsCommand({ Entries: [entry('{"leaf":"a"}'), entry('not json'), { ...entry('{}'), EventBusName: 'other' }, entry('{"leaf":"b"}')] }));
    expect(answer.FailedEntryCount).toBe(2);
    expect(answer.Entries?.map((result) => result.ErrorCode ?? 'ok')).toEqual(['ok', 'MalformedDetail', 'ResourceNotFoundException', 'ok']);
    expect(local.events().map((event) => event.detail)).toEqual([{ leaf: 'a' }, { leaf: 'b' }]);
  });

  it('refuses more than 10 entries or more than 256 KB in one call', async () => {
    await expect(client.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, () => entry('{}')) }))).rejects.toMatchObject({ name: 'ValidationException' });
    const big = entry(JSON.stringify({ pad: 'x'.repeat(130 * 1024) }));
    await expect(client.send(new PutEventsCommand({ Entries: [big, big] }))).rejects.toMatchObject({ name: 'ValidationException', message: 'Total size of the entries in the request is over the limit.' });
  });

  it('checks the SigV4 signature', async () => {
    const wrong = new EventBridgeClient({ region: local.region, endpoint: local.endpoint, credentials: { ...local.credentials, secretAccessKey: 'wrong' }, maxAttempts: 1 });
    await expect(wrong.send(new PutEventsCommand({ Entries: [entry('{}')] }))).rejects.toMatchObject({ name: 'InvalidSignatureException' });
    wrong.destroy();
  });
});
