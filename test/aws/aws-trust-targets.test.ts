import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmCertificates } from '../../lib/aws/acm-certificate.js';
import { ApiGatewayDomains } from '../../lib/aws/api-gateway-domain.js';
import { createAwsTrustClients, type AwsTrustClients } from '../../lib/aws/aws-trust-clients.js';
import { Elbv2TrustStores } from '../../lib/aws/elbv2-trust-store.js';
import { S3BundleObjects } from '../../lib/aws/s3-bundle-objects.js';
import type { Elbv2TrustStoreTarget } from '../../lib/config/aws-trust-targets.js';
import { startLocalAcm, type LocalAcm } from '../../lib/local/acm/server.js';
import { startLocalApiGateway, type LocalApiGateway } from '../../lib/local/api-gateway/server.js';
import { startLocalElbv2, type LocalElbv2 } from '../../lib/local/elbv2/server.js';
import { AwsError } from '../../lib/local/kit/aws-error.js';
import { startLocalS3, type LocalS3 } from '../../lib/local/s3/server.js';
import { CaDirectory, Issuer, generateCa, type CaGeneration } from '../../lib/pki/index.js';
import { apiGatewayDomainConsumer } from '../../lib/consumers/api-gateway-domain/consumer.js';
import { ConsumerRejectedError, ConsumerUnavailableError, type ConsumerRun } from '../../lib/ports.js';
import { DAY } from '../support/pki.js';

const REGION = 'us-east-1';
let s3: LocalS3;
let elbv2: LocalElbv2;
let apiGateway: LocalApiGateway;
let acm: LocalAcm;
let clients: AwsTrustClients;
let objects: S3BundleObjects;
let ca1: CaGeneration;
let ca2: CaGeneration;
let downArn: string | undefined;

beforeAll(async () => {
  s3 = await startLocalS3({ region: REGION });
  elbv2 = await startLocalElbv2({
    s3,
    region: REGION,
    faults: (action, params) => (downArn !== undefined && params.get('TrustStoreArn') === downArn ? new AwsError('ServiceUnavailable', `${action}: unavailable`, 503) : undefined),
  });
  apiGateway = await startLocalApiGateway({ s3, region: REGION });
  acm = await startLocalAcm({ region: REGION });
  clients = createAwsTrustClients({
    credentials: s3.credentials,
    endpoints: { s3: s3.endpoint, elbv2: elbv2.endpoint, apiGateway: apiGateway.endpoint, acm: acm.endpoint },
    maxAttempts: 1,
  });
  objects = new S3BundleObjects(clients);
  const { sdk, client } = await clients.s3(REGION);
  await client.send(new sdk.CreateBucketCommand({ Bucket: 'pki-bundles' }));
  await client.send(new sdk.PutBucketVersioningCommand({ Bucket: 'pki-bundles', VersioningConfiguration: { Status: 'Enabled' } }));
  await client.send(new sdk.CreateBucketCommand({ Bucket: 'unversioned' }));
  ca1 = await generateCa({ authority: 'cluster', generation: 1, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
  ca2 = await generateCa({ authority: 'cluster', generation: 2, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
});
afterAll(async () => {
  clients.destroy();
  await Promise.all([s3.stop(), elbv2.stop(), apiGateway.stop(), acm.stop()]);
});

/** What `run` returns, and the calls of each operation the endpoint answered meanwhile. */
async function callsDuring<T>(endpoint: { calls(): Record<string, number> }, run: () => Promise<T>): Promise<{ result: T; calls: Record<string, number> }> {
  const before = endpoint.calls();
  const result = await run();
  const after = endpoint.calls();
  const calls = Object.fromEntries(Object.entries(after).flatMap(([operation, count]) => (count === (before[operation] ?? 0) ? [] : [[operation, count - (before[operation] ?? 0)]])));
  return { result, calls };
}

describe('S3BundleObjects against the local S3', () => {
  it('writes each bundle as a new version and reads every version back by id', async () => {
    const ref = { region: REGION, bucket: 'pki-bundles', key: 'cluster/alb.pem' };
    const first = await objects.put(ref, ca1.certificatePem);
    const second = await objects.put(ref, ca1.certificatePem + ca2.certificatePem);
    expect(second).not.toBe(first);
    expect(await objects.get(ref, first)).toBe(ca1.certificatePem);
    expect(await objects.get(ref, second)).toBe(ca1.certificatePem + ca2.certificatePem);
    expect(await objects.get(ref)).toBe(ca1.certificatePem + ca2.certificatePem);
    expect(await objects.get({ ...ref, key: 'missing.pem' })).toBeUndefined();
  });

  it('reads a version by id once (a version never changes), the newest every time, and keeps no missing version', async () => {
    const ref = { region: REGION, bucket: 'pki-bundles', key: 'cluster/api.pem' };
    const reader = new S3BundleObjects(clients);
    const first = await reader.put(ref, ca1.certificatePem);
    const { calls: byVersion } = await callsDuring(s3, async () => {
      for (let read = 0; read < 3; read++) expect(await reader.get(ref, first)).toBe(ca1.certificatePem);
      expect(await reader.get({ ...ref, key: 'cluster/other.pem' }, first)).toBeUndefined();
      expect(await reader.get({ ...ref, key: 'cluster/other.pem' }, first)).toBeUndefined();
    });
    expect(byVersion).toEqual({ GetObject: 3 });
    await reader.put(ref, ca2.certificatePem);
    const newest = await callsDuring(s3, async () => [await reader.get(ref), await reader.get(ref)]);
    expect(newest).toEqual({ result: [ca2.certificatePem, ca2.certificatePem], calls: { GetObject: 2 } });
  });

  it('refuses a bucket without versioning: a trust store could not be pinned to the write', async () => {
    await expect(objects.put({ region: REGION, bucket: 'unversioned', key: 'b.pem' }, ca1.certificatePem)).rejects.toThrow(/has no versioning/);
  });

  it('refuses a request signed with the wrong secret', async () => {
    const wrong = createAwsTrustClients({ credentials: { ...s3.credentials, secretAccessKey: 'wrong' }, endpoints: { s3: s3.endpoint }, maxAttempts: 1 });
    await expect(new S3BundleObjects(wrong).put({ region: REGION, bucket: 'pki-bundles', key: 'x.pem' }, 'x')).rejects.toThrow(/SignatureDoesNotMatch/);
    wrong.destroy();
  });
});

describe('Elbv2TrustStores against the local ELBv2', () => {
  const created: Elbv2TrustStoreTarget = { authority: 'cluster', region: REGION, bucket: 'pki-bundles', key: 'cluster/clients.pem', trustStore: { create: 'clients' } };

  it('creates the trust store on first publish, then modifies it, serving each bundle once propagated', async () => {
    const stores = new Elbv2TrustStores(clients, objects);
    expect(await stores.readBack(created)).toBeUndefined();
    elbv2.setPropagationMs(200);
    await stores.publish(created, ca1.certificatePem);
    expect(await stores.readBack(created)).toEqual({ status: 'CREATING', bundle: undefined });
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await stores.readBack(created)).toEqual({ status: 'ACTIVE', bundle: ca1.certificatePem });
    await stores.publish(created, ca1.certificatePem + ca2.certificatePem);
    // Until the change propagates, the listener still verifies against the old bundle.
    expect((await stores.readBack(created))?.bundle).toBe(ca1.certificatePem);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const before = elbv2.calls()['DescribeTrustStores'] ?? 0;
    expect((await stores.readBack(created))?.bundle).toBe(ca1.certificatePem + ca2.certificatePem);
    // One DescribeTrustStores finds it by name and gives its status: a read-back runs every tick.
    expect((elbv2.calls()['DescribeTrustStores'] ?? 0) - before).toBe(1);
    elbv2.setPropagationMs(0);
  });

  it('refuses a bundle over the quota of 25 CA certificates before writing anything', async () => {
    const stores = new Elbv2TrustStores(clients, objects);
    const before = s3.calls()['PutObject'] ?? 0;
    const error = await stores.publish(created, ca1.certificatePem.repeat(26)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConsumerRejectedError);
    expect(String(error)).toMatch(/"CA certificates per trust store" is 25/);
    expect(s3.calls()['PutObject'] ?? 0).toBe(before);
  });

  it('reports a trust store that answers 503 as unavailable, and an unknown one as refused', async () => {
    const stores = new Elbv2TrustStores(clients, objects);
    const described = await stores.readBack(created);
    expect(described?.status).toBe('ACTIVE');
    const arn = (await (await clients.elbv2(REGION)).client.send(new (await clients.elbv2(REGION)).sdk.DescribeTrustStoresCommand({ Names: ['clients'] }))).TrustStores?.[0]?.TrustStoreArn;
    downArn = arn;
    const target: Elbv2TrustStoreTarget = { ...created, trustStore: { arn: arn ?? '' } };
    await expect(stores.readBack(target)).rejects.toBeInstanceOf(ConsumerUnavailableError);
    await expect(stores.readBack(target)).rejects.toThrow(/ELBv2 trust store clients \(us-east-1\) is unavailable/);
    downArn = undefined;
    const unknown: Elbv2TrustStoreTarget = { ...created, trustStore: { arn: `arn:aws:elasticloadbalancing:${REGION}:000000000000:truststore/nope/0123456789abcdef` } };
    await expect(stores.readBack(unknown)).rejects.toBeInstanceOf(ConsumerRejectedError);
  });
});

describe('ApiGatewayDomains against the local API Gateway', () => {
  const target = { authority: 'cluster', region: REGION, bucket: 'pki-bundles', key: 'cluster/api.pem', domainName: 'api.example.com' };

  it('pins the domain to each new truststore version and reads that version back', async () => {
    const domains = new ApiGatewayDomains(clients, objects);
    const first = await objects.put(target, ca1.certificatePem);
    const { sdk, client } = await clients.apiGateway(REGION);
    await client.send(new sdk.CreateDomainNameCommand({ domainName: target.domainName, regionalCertificateArn: 'arn:aws:acm:us-east-1:000000000000:certificate/x', mutualTlsAuthentication: { truststoreUri: 's3://pki-bundles/cluster/api.pem', truststoreVersion: first } }));
    await domains.publish(target, ca1.certificatePem + ca2.certificatePem);
    const read = await domains.readBack(target);
    expect(read.status).toBe('AVAILABLE');
    expect(read.truststoreVersion).not.toBe(first);
    expect(read.bundle).toBe(ca1.certificatePem + ca2.certificatePem);
    expect(read.warnings).toEqual([]);
  });

  it('surfaces the truststore warnings API Gateway reports (a leaf certificate in the bundle)', async () => {
    const domains = new ApiGatewayDomains(clients, objects);
    const leaf = await Issuer.fromCaGeneration(ca1).issueLeaf({ subject: 'CN=web', dnsNames: ['web.local'], usage: 'server', lifetimeMs: 5 * DAY }, Date.now() - DAY);
    await domains.publish(target, ca1.certificatePem + leaf.certificatePem);
    expect((await domains.readBack(target)).warnings).toEqual([expect.stringMatching(/CN=web is not a CA certificate/)]);
  });
});

describe('the API Gateway domain consumer reading back a truststore object re-encoded by whoever wrote it', () => {
  const target = { authority: 'cluster', region: REGION, bucket: 'pki-bundles', key: 'cluster/reencoded.pem', domainName: 'mtls.example.com' };

  it('holds the bundle when the pinned version has its certificates in another encoding and order, not with a foreign CA added', async () => {
    const directory = CaDirectory.of([{ generation: 1, certificate: ca1.certificate }, { generation: 2, certificate: ca2.certificate }]);
    const run = { store: {}, reads: { storedFormOf: (pem: string) => directory.storedFormOf(pem) } } as unknown as ConsumerRun;
    const consumer = apiGatewayDomainConsumer(target, new ApiGatewayDomains(clients, objects), run);
    const crlf = (ca2.certificatePem + ca1.certificatePem).replace(/\n/g, '\r\n');
    const stranger = await generateCa({ authority: 'stranger', generation: 1, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
    const { sdk, client } = await clients.apiGateway(REGION);
    const pin = async (pem: string) => {
      const version = await objects.put(target, pem);
      await client.send(new sdk.UpdateDomainNameCommand({ domainName: target.domainName, patchOperations: [{ op: 'replace', path: '/mutualTlsAuthentication/truststoreVersion', value: version }] }));
    };
    const first = await objects.put(target, crlf);
    await client.send(new sdk.CreateDomainNameCommand({ domainName: target.domainName, regionalCertificateArn: 'arn:aws:acm:us-east-1:000000000000:certificate/x', mutualTlsAuthentication: { truststoreUri: 's3://pki-bundles/cluster/reencoded.pem', truststoreVersion: first } }));
    expect(await consumer.readBack()).toEqual({ 'ca.crt': ca1.certificate.pem + ca2.certificate.pem });
    await pin(crlf + stranger.certificatePem);
    expect(await consumer.readBack()).toEqual({ 'ca.crt': crlf + stranger.certificatePem });
  });
});

describe('AcmCertificates against the local ACM', () => {
  it('re-imports on the same ARN and reads back the new serial; a change of key algorithm is refused', async () => {
    const issuer = Issuer.fromCaGeneration(ca1);
    const leaf = await issuer.issueLeaf({ subject: 'CN=web', dnsNames: ['web.example.com'], usage: 'server', lifetimeMs: 5 * DAY }, Date.now() - DAY);
    const { sdk, client } = await clients.acm(REGION);
    const encoder = new TextEncoder();
    const created = await client.send(new sdk.ImportCertificateCommand({ Certificate: encoder.encode(leaf.certificatePem), PrivateKey: encoder.encode(leaf.privateKeyPem) }));
    const target = { authority: 'cluster', region: REGION, leaf: 'web', certificate: { arn: created.CertificateArn ?? '' } };
    const certificates = new AcmCertificates(clients);
    expect((await certificates.readBack(target)).serialHex).toBe(leaf.serialHex.replace(/^(00)+/, ''));
    const next = await Issuer.fromCaGeneration(ca2).issueLeaf({ subject: 'CN=web', dnsNames: ['web.example.com'], usage: 'server', lifetimeMs: 5 * DAY }, Date.now() - DAY);
    await certificates.import(target, next.certificatePem, next.privateKeyPem, ca2.certificatePem);
    // One call per read-back: the PEM GetCertificate returns carries the serial.
    const { result: read, calls } = await callsDuring(acm, () => certificates.readBack(target));
    expect(calls).toEqual({ GetCertificate: 1 });
    expect(read.serialHex).toBe(next.serialHex.replace(/^(00)+/, ''));
    const described = await client.send(new sdk.DescribeCertificateCommand({ CertificateArn: target.certificate.arn }));
    expect(described.Certificate?.KeyAlgorithm).toBe('EC_prime256v1');
    const rsa = await generateCa({ authority: 'cluster', generation: 3, now: Date.now() - DAY, lifetimeMs: 30 * DAY, algorithm: 'rsa2048' });
    const rsaLeaf = await Issuer.fromCaGeneration(rsa).issueLeaf({ subject: 'CN=web', dnsNames: ['web.example.com'], usage: 'server', lifetimeMs: 5 * DAY, algorithm: 'rsa2048' }, Date.now() - DAY);
    await expect(certificates.import(target, rsaLeaf.certificatePem, rsaLeaf.privateKeyPem, '')).rejects.toThrow(/key algorithm cannot change/);
  });
});
