import { createServer } from 'node:net';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { startLocalDynamoDB, type LocalDynamoDB } from '../../lib/local/dynalite.js';

function clientFor(local: LocalDynamoDB, credentials = local.credentials): DynamoDBClient {
  return new DynamoDBClient({ endpoint: local.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('startLocalDynamoDB', () => {
  it('serves DynamoDB on a free loopback port and creates tables ACTIVE at once', async () => {
    const local = await startLocalDynamoDB();
    const client = clientFor(local);
    try {
      expect(local.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const created = await client.send(
        new CreateTableCommand({
          TableName: 'probe',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        }),
      );
      expect(['CREATING', 'ACTIVE']).toContain(created.TableDescription?.TableStatus);
      const { TableNames } = await client.send(new ListTablesCommand({}));
      expect(TableNames).toEqual(['probe']);
    } finally {
      client.destroy();
      await local.stop();
    }
  });

  it('keeps separate instances apart: each starts empty, in memory', async () => {
    const first = await startLocalDynamoDB();
    const second = await startLocalDynamoDB();
    const a = clientFor(first);
    const b = clientFor(second);
    try {
      expect(first.endpoint).not.toBe(second.endpoint);
      await a.send(
        new CreateTableCommand({
          TableName: 'only-in-first',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        }),
      );
      expect((await b.send(new ListTablesCommand({}))).TableNames).toEqual([]);
    } finally {
      a.destroy();
      b.destroy();
      await Promise.all([first.stop(), second.stop()]);
    }
  });

  it('listens on the port it is given', async () => {
    const port = await freePort();
    const local = await startLocalDynamoDB({ port });
    try {
      expect(local.endpoint).toBe(`http://127.0.0.1:${port}`);
    } finally {
      await local.stop();
    }
  });

  it('rejects when the port is taken', async () => {
    const taken = await startLocalDynamoDB();
    const port = Number(new URL(taken.endpoint).port);
    try {
      await expect(startLocalDynamoDB({ port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await taken.stop();
    }
  });

  it('stops accepting requests after stop(), and a second stop() is harmless', async () => {
    const local = await startLocalDynamoDB();
    const client = clientFor(local);
    try {
      await client.send(new ListTablesCommand({}));
      await local.stop();
      await local.stop();
      await expect(client.send(new ListTablesCommand({}))).rejects.toThrow();
    } finally {
      client.destroy();
    }
  });

  it('refuses a request signed with a wrong secret key, and one with an unknown key, while the right key works', async () => {
    const local = await startLocalDynamoDB();
    const good = clientFor(local);
    const forged = clientFor(local, { accessKeyId: local.credentials.accessKeyId, secretAccessKey: 'not-the-secret' });
    const stranger = clientFor(local, { accessKeyId: 'AKIDSOMEONEELSE', secretAccessKey: local.credentials.secretAccessKey });
    try {
      await expect(forged.send(new ListTablesCommand({}))).rejects.toMatchObject({ name: 'InvalidSignatureException', $metadata: { httpStatusCode: 400 } });
      await expect(stranger.send(new ListTablesCommand({}))).rejects.toMatchObject({ name: 'UnrecognizedClientException', $metadata: { httpStatusCode: 400 } });
      expect((await good.send(new ListTablesCommand({}))).TableNames).toEqual([]);
    } finally {
      for (const client of [good, forged, stranger]) client.destroy();
      await local.stop();
    }
  });

  it('accepts the credentials it is given', async () => {
    const credentials = { accessKeyId: 'AKIDOTHER', secretAccessKey: 'other-secret' };
    const local = await startLocalDynamoDB({ credentials });
    const client = clientFor(local);
    try {
      expect(local.credentials).toEqual(credentials);
      expect((await client.send(new ListTablesCommand({}))).TableNames).toEqual([]);
    } finally {
      client.destroy();
      await local.stop();
    }
  });
});
