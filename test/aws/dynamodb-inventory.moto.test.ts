/**
 * The leaf inventory's reads through the `due` index, and the lease that returns the state, against
 * moto, an independent DynamoDB emulator: the same answers as against dynalite
 * (test/aws/dynamodb-state-store.test.ts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbStateStore, createStateTable } from '../../lib/aws/dynamodb-state-store.js';
import type { LeafInventoryRow } from '../../lib/ports.js';
import { renewAt } from '../../lib/renewal/index.js';
import { startMoto, type MotoServer } from './moto-server.js';

const HOUR = 3_600_000;
const NOW = Date.UTC(2030, 0, 1);
const POLICY = { renewBeforeMs: 24 * HOUR, jitterWindowMs: HOUR };

let moto: MotoServer;
let client: DynamoDBClient;
let store: DynamoDbStateStore<unknown>;

beforeAll(async () => {
  moto = await startMoto();
  client = new DynamoDBClient({ region: 'eu-west-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'AKIDMOTO', secretAccessKey: 'moto' }, maxAttempts: 1 });
  await createStateTable(client, 'certrotate-moto');
  store = new DynamoDbStateStore({ client, tableName: 'certrotate-moto' });
});
afterAll(async () => {
  client.destroy();
  await moto.stop();
});

function leafRow(authority: string, id: string, notAfter: number): LeafInventoryRow {
  return { authority, id, notAfter, renewAt: renewAt(id, notAfter, POLICY), generation: 1, serialHex: '0a', fingerprintSha256: `fp-${id}` };
}

describe('leaf inventory against moto', () => {
  it('reads the due rows and the rows that hold the earliest expiry, leaving intent rows and other authorities out', async () => {
    const rows = Array.from({ length: 250 }, (_, i) => leafRow('cluster', `leaf-${i}`, NOW + ((i * 7919) % 1440) * HOUR));
    const intents = [{ ...leafRow('cluster', 'pending', NOW), renewAt: NOW - HOUR, notAfter: 0, serialHex: '', fingerprintSha256: '' }];
    await store.putLeafRows([...rows, ...intents, leafRow('etcd', 'etcd-0', NOW - 48 * HOUR)]);

    const near = (await store.readEarliestLeafRows('cluster', POLICY.jitterWindowMs)).filter((row) => row.fingerprintSha256 !== '');
    expect(near.length).toBeGreaterThan(0);
    expect(near.length).toBeLessThan(10);
    expect(Math.min(...near.map((row) => row.notAfter))).toBe(Math.min(...rows.map((row) => row.notAfter)));
    expect(near.every((row) => row.authority === 'cluster')).toBe(true);

    const dueBy = NOW + 48 * HOUR;
    const read = await store.readEarliestLeafRows('cluster', POLICY.jitterWindowMs, dueBy);
    expect(read.filter((row) => row.renewAt <= dueBy).map((row) => row.id).sort()).toEqual([...rows, ...intents].filter((row) => row.renewAt <= dueBy).map((row) => row.id).sort());
    const notDue = rows.filter((row) => row.renewAt > dueBy);
    const next = read.filter((row) => row.renewAt > dueBy);
    expect(Math.min(...next.map((row) => row.notAfter))).toBe(Math.min(...notDue.map((row) => row.notAfter)));
  });
});

describe('the lease against moto', () => {
  it('returns the state stored when it is taken, and refuses another owner while it runs', async () => {
    expect(await store.acquireLease('etcd', 'tick-a', NOW, HOUR)).toEqual({ stored: undefined });
    const version = await store.writeState('etcd', { phase: 'Stable', generation: 2 }, undefined);
    expect(await store.acquireLease('etcd', 'tick-b', NOW + 1, HOUR)).toBeUndefined();
    expect(await store.acquireLease('etcd', 'tick-a', NOW + 2, HOUR)).toEqual({ stored: { state: { phase: 'Stable', generation: 2 }, version } });
  });
});
