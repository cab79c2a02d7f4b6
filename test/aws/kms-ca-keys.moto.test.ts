import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll } from 'vitest';
import { startMoto, type MotoServer } from './moto-server.js';
import { kmsCaKeySuite } from './kms-ca-keys.suite.js';

let moto: MotoServer;
let client: KMSClient;

beforeAll(async () => {
  moto = await startMoto();
  client = new KMSClient({ region: 'eu-west-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'AKIDMOTO', secretAccessKey: 'moto' }, maxAttempts: 1 });
});
afterAll(async () => {
  client.destroy();
  await moto.stop();
});

kmsCaKeySuite('moto', () => ({ client, signsDigests: false }));
