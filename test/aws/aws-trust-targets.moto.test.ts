import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmCertificates } from '../../lib/aws/acm-certificate.js';
import { createAwsTrustClients, type AwsTrustClients } from '../../lib/aws/aws-trust-clients.js';
import { S3BundleObjects } from '../../lib/aws/s3-bundle-objects.js';
import { Issuer, generateCa } from '../../lib/pki/index.js';
import { DAY } from '../support/pki.js';
import { startMoto, type MotoServer } from './moto-server.js';

const REGION = 'eu-west-1';
let moto: MotoServer;
let clients: AwsTrustClients;

beforeAll(async () => {
  moto = await startMoto();
  clients = createAwsTrustClients({
    credentials: { accessKeyId: 'AKIDMOTOCALLER000001', secretAccessKey: 'moto-caller-secret' },
    endpoints: { s3: moto.endpoint, acm: moto.endpoint },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  clients.destroy();
  await moto.stop();
});

describe('S3BundleObjects against moto', () => {
  it('gets a new version id per write from a versioned bucket and reads each version back', async () => {
    const { sdk, client } = await clients.s3(REGION);
    await client.send(new sdk.CreateBucketCommand({ Bucket: 'pki-bundles', CreateBucketConfiguration: { LocationConstraint: REGION } }));
    await client.send(new sdk.PutBucketVersioningCommand({ Bucket: 'pki-bundles', VersioningConfiguration: { Status: 'Enabled' } }));
    const objects = new S3BundleObjects(clients);
    const ref = { region: REGION, bucket: 'pki-bundles', key: 'cluster/alb.pem' };
    const first = await objects.put(ref, 'first\n');
    const second = await objects.put(ref, 'second\n');
    expect(second).not.toBe(first);
    expect(await objects.get(ref, first)).toBe('first\n');
    expect(await objects.get(ref, second)).toBe('second\n');
    expect(await objects.get({ ...ref, key: 'missing.pem' })).toBeUndefined();
  });

  it('refuses an unversioned bucket', async () => {
    const { sdk, client } = await clients.s3(REGION);
    await client.send(new sdk.CreateBucketCommand({ Bucket: 'unversioned', CreateBucketConfiguration: { LocationConstraint: REGION } }));
    await expect(new S3BundleObjects(clients).put({ region: REGION, bucket: 'unversioned', key: 'b.pem' }, 'x')).rejects.toThrow(/has no versioning/);
  });
});

describe('AcmCertificates against moto', () => {
  it('re-imports a new leaf on the same ARN and reads its serial back', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
    const issue = () => Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=web.example.com', dnsNames: ['web.example.com'], usage: 'server', lifetimeMs: 5 * DAY }, Date.now() - DAY);
    const first = await issue();
    const { sdk, client } = await clients.acm(REGION);
    const encoder = new TextEncoder();
    const created = await client.send(new sdk.ImportCertificateCommand({ Certificate: encoder.encode(first.certificatePem), PrivateKey: encoder.encode(first.privateKeyPem), CertificateChain: encoder.encode(ca.certificatePem) }));
    const target = { authority: 'cluster', region: REGION, leaf: 'web', certificate: { arn: created.CertificateArn ?? '' } };
    const certificates = new AcmCertificates(clients);
    expect((await certificates.readBack(target)).serialHex).toBe(first.serialHex.replace(/^(00)+/, ''));
    const second = await issue();
    await certificates.import(target, second.certificatePem, second.privateKeyPem, ca.certificatePem);
    const read = await certificates.readBack(target);
    expect(read.serialHex).toBe(second.serialHex.replace(/^(00)+/, ''));
    expect(read.certificatePem?.trim()).toBe(second.certificatePem.trim());
  });
});
