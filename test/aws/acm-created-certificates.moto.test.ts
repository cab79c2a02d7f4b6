import 'reflect-metadata';
import { afterAll, beforeAll } from 'vitest';
import { createAwsTrustClients, type AwsTrustClients } from '../../lib/aws/aws-trust-clients.js';
import { acmCreatedCertificateSuite } from './acm-created-certificates.suite.js';
import { startMoto, type MotoServer } from './moto-server.js';

let moto: MotoServer;
let clients: AwsTrustClients;

beforeAll(async () => {
  moto = await startMoto();
  clients = createAwsTrustClients({ credentials: { accessKeyId: 'AKIDMOTOCALLER000001', secretAccessKey: 'moto-caller-secret' }, endpoints: { acm: moto.endpoint }, maxAttempts: 1 });
});
afterAll(async () => {
  clients.destroy();
  await moto.stop();
});

acmCreatedCertificateSuite('moto', () => ({ clients, region: 'eu-west-1', keepsTagsOnReimport: false }));
