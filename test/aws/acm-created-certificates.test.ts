import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmCertificates } from '../../lib/aws/acm-certificate.js';
import { createAwsTrustClients, type AwsTrustClients } from '../../lib/aws/aws-trust-clients.js';
import { startLocalAcm, type LocalAcm } from '../../lib/local/acm/server.js';
import { AwsError } from '../../lib/local/kit/aws-error.js';
import { Issuer, generateCa } from '../../lib/pki/index.js';
import { acmCreatedCertificateSuite } from './acm-created-certificates.suite.js';

const REGION = 'us-east-1';
const DAY = 86_400_000;
let acm: LocalAcm;
let clients: AwsTrustClients;
/** Fails the next ListCertificates that comes after an ImportCertificate: the run "crashes" there. */
let crashAfterImport = false;
let imported = false;

beforeAll(async () => {
  acm = await startLocalAcm({
    region: REGION,
    faults: (operation) => {
      if (operation === 'ImportCertificate') imported = true;
      if (operation === 'ListCertificates' && crashAfterImport && imported) {
        crashAfterImport = false;
        return new AwsError('InternalFailure', 'the run died here', 500);
      }
      return undefined;
    },
  });
  clients = createAwsTrustClients({ credentials: acm.credentials, endpoints: { acm: acm.endpoint }, maxAttempts: 1 });
});
afterAll(async () => {
  clients.destroy();
  await acm.stop();
});

acmCreatedCertificateSuite('local ACM', () => ({ clients, region: REGION, keepsTagsOnReimport: true }));

describe('ACM certificates certrotate creates (local ACM faults)', () => {
  it('a run that fails right after its ImportCertificate leaves the one certificate the next run re-imports onto', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
    const issue = () => Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=web', dnsNames: ['web.example.com'], usage: 'server', lifetimeMs: 5 * DAY }, Date.now() - DAY);
    const target = { authority: 'cluster', region: REGION, leaf: 'web', certificate: { create: 'dies' } };
    const before = acm.arns().length;
    imported = false;
    crashAfterImport = true;
    const first = await issue();
    await expect(new AcmCertificates(clients, 'deploy-a').import(target, first.certificatePem, first.privateKeyPem, ca.certificatePem)).rejects.toThrow(/unavailable/);
    expect(acm.arns()).toHaveLength(before + 1);
    const second = await issue();
    const arn = await new AcmCertificates(clients, 'deploy-a').import(target, second.certificatePem, second.privateKeyPem, ca.certificatePem);
    expect(acm.arns()).toHaveLength(before + 1);
    expect(acm.served(arn)?.certificate).toBe(second.certificatePem);
  });

  it('lists RSA_1024 and RSA_2048 certificates only unless asked for other key types, as ACM does', async () => {
    const { sdk, client } = await clients.acm(REGION);
    const all = await client.send(new sdk.ListCertificatesCommand({ Includes: { keyTypes: ['EC_prime256v1', 'RSA_2048'] } }));
    const byDefault = await client.send(new sdk.ListCertificatesCommand({}));
    expect((all.CertificateSummaryList ?? []).length).toBeGreaterThan(0);
    expect(byDefault.CertificateSummaryList ?? []).toEqual([]);
  });
});
