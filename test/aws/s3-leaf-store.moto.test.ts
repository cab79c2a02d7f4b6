import * as sdk from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { startMoto, type MotoServer } from './moto-server.js';
import { s3LeafStoreSuite } from './s3-leaf-store.suite.js';

let moto: MotoServer;
let client: sdk.S3Client;
let puts = 0;

beforeAll(async () => {
  moto = await startMoto();
  client = new sdk.S3Client({ region: 'us-east-1', endpoint: moto.endpoint, credentials: { accessKeyId: 'AKIDMOTO', secretAccessKey: 'moto' }, forcePathStyle: true, maxAttempts: 1 });
  // moto keeps no request counts: count the PutObject requests sent.
  client.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName === 'PutObjectCommand') puts++;
    return next(args);
  }, { step: 'initialize', name: 'countPuts' });
});
afterAll(async () => {
  client.destroy();
  await moto.stop();
});

s3LeafStoreSuite('moto', () => ({ client, puts: () => puts }));
