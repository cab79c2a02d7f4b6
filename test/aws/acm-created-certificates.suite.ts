/**
 * ACM certificates certrotate creates (`createCertificate`), run against our local ACM
 * (acm-created-certificates.test.ts) and against moto (acm-created-certificates.moto.test.ts):
 * exactly one certificate per target, after a crash right after ImportCertificate and with two
 * runs racing, found again by its tags.
 *
 * moto 5.2.1 drops a certificate's tags when it is re-imported (import_certificate with an ARN
 * builds a new CertBundle with no tags); AWS keeps them (tags cannot be changed on re-import, not
 * lost). Against moto (`keepsTagsOnReimport: false`) the steps that find a certificate by its tags
 * after a re-import are left out; certificates are counted by ARN, not by tag, everywhere.
 */
import { describe, expect, it } from 'vitest';
import { AcmCertificates } from '../../lib/aws/acm-certificate.js';
import type { AwsTrustClients } from '../../lib/aws/aws-trust-clients.js';
import { ACM_CERTIFICATE_TAGS, type AcmCertificateTarget } from '../../lib/config/aws-trust-targets.js';
import { Issuer, generateCa, type CaGeneration } from '../../lib/pki/index.js';
import { ConsumerUnavailableError } from '../../lib/ports.js';

const DAY = 86_400_000;

export interface AcmEndpoint {
  clients: AwsTrustClients;
  region: string;
  keepsTagsOnReimport: boolean;
}

async function serverLeaf(ca: CaGeneration) {
  return Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=web.example.com', dnsNames: ['web.example.com'], usage: 'server', lifetimeMs: 5 * DAY }, Date.now() - DAY);
}

/** Every certificate of the region (every key type the tests use), by ARN. */
async function allCertificates(endpoint: AcmEndpoint): Promise<string[]> {
  const { sdk, client } = await endpoint.clients.acm(endpoint.region);
  const list = await client.send(new sdk.ListCertificatesCommand({ Includes: { keyTypes: ['RSA_2048', 'EC_prime256v1'] } }));
  return (list.CertificateSummaryList ?? []).map((summary) => summary.CertificateArn ?? '');
}

/** The certificates that appeared since `before`. */
async function newSince(endpoint: AcmEndpoint, before: readonly string[]): Promise<string[]> {
  return (await allCertificates(endpoint)).filter((arn) => !before.includes(arn));
}

/** A certificate imported with the tags the adapter gives one it creates for `name` (deployment-a, authority cluster). */
async function importTagged(endpoint: AcmEndpoint, leaf: { certificatePem: string; privateKeyPem: string }, name: string, created: string): Promise<string> {
  const { sdk, client } = await endpoint.clients.acm(endpoint.region);
  const encoder = new TextEncoder();
  const made = await client.send(
    new sdk.ImportCertificateCommand({
      Certificate: encoder.encode(leaf.certificatePem),
      PrivateKey: encoder.encode(leaf.privateKeyPem),
      Tags: [
        { Key: ACM_CERTIFICATE_TAGS.created, Value: created },
        { Key: ACM_CERTIFICATE_TAGS.kind, Value: 'acm-certificate' },
        { Key: ACM_CERTIFICATE_TAGS.prefix, Value: 'deploy-a' },
        { Key: ACM_CERTIFICATE_TAGS.authority, Value: 'cluster' },
        { Key: ACM_CERTIFICATE_TAGS.target, Value: name },
      ],
    }),
  );
  return made.CertificateArn ?? '';
}

export function acmCreatedCertificateSuite(label: string, endpoint: () => AcmEndpoint): void {
  const target = (name: string): AcmCertificateTarget => ({ authority: 'cluster', region: endpoint().region, leaf: 'web', certificate: { create: name } });

  describe(`ACM certificates certrotate creates (${label})`, () => {
    it('creates a P-256 certificate on first import, tagged, and re-imports onto it afterwards, also from a new process', async () => {
      const ca = await generateCa({ authority: 'cluster', generation: 1, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
      const first = await serverLeaf(ca);
      const before = await allCertificates(endpoint());
      const certificates = new AcmCertificates(endpoint().clients, 'deploy-a');
      expect(await certificates.readBack(target('first'))).toEqual({ serialHex: '', certificatePem: undefined, arn: undefined });
      const arn = await certificates.import(target('first'), first.certificatePem, first.privateKeyPem, ca.certificatePem);
      expect(await newSince(endpoint(), before)).toEqual([arn]);
      const second = await serverLeaf(ca);
      // A new process (no remembered ARN) finds it by its tags: ListCertificates must ask for EC key types.
      const fresh = new AcmCertificates(endpoint().clients, 'deploy-a');
      expect(await fresh.import(target('first'), second.certificatePem, second.privateKeyPem, ca.certificatePem)).toBe(arn);
      expect(await newSince(endpoint(), before)).toEqual([arn]);
      const read = await (endpoint().keepsTagsOnReimport ? new AcmCertificates(endpoint().clients, 'deploy-a') : fresh).readBack(target('first'));
      expect(read.arn).toBe(arn);
      expect(read.serialHex).toBe(second.serialHex.replace(/^(00)+/, ''));
    });

    it('re-imports onto the certificate a run made before crashing right after ImportCertificate returned', async () => {
      const ca = await generateCa({ authority: 'cluster', generation: 1, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
      const dead = await serverLeaf(ca);
      const before = await allCertificates(endpoint());
      // What the dead run sent (the tags the adapter puts on a new certificate), and nothing after.
      const made = await importTagged(endpoint(), dead, 'crashed', new Date().toISOString());
      const next = await serverLeaf(ca);
      const arn = await new AcmCertificates(endpoint().clients, 'deploy-a').import(target('crashed'), next.certificatePem, next.privateKeyPem, ca.certificatePem);
      expect(arn).toBe(made);
      expect(await newSince(endpoint(), before)).toEqual([arn]);
    });

    it('leaves one certificate when two runs race to create it, both answering its ARN', async () => {
      const ca = await generateCa({ authority: 'cluster', generation: 1, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
      const [a, b] = await Promise.all([serverLeaf(ca), serverLeaf(ca)]);
      const before = await allCertificates(endpoint());
      // A run whose call finds the endpoint unavailable is retried by the next tick: moto 5.2.1 answers
      // a ListCertificates racing a DeleteCertificate with a 500 now and then (it iterates its dict
      // while the other request changes it).
      const run = (leaf: typeof a) => {
        const once = () => new AcmCertificates(endpoint().clients, 'deploy-a').import(target('raced'), leaf.certificatePem, leaf.privateKeyPem, ca.certificatePem);
        return once().catch((error: unknown) => {
          if (error instanceof ConsumerUnavailableError) return once();
          throw error;
        });
      };
      const [arnA, arnB] = await Promise.all([run(a), run(b)]);
      expect(await newSince(endpoint(), before)).toEqual([arnA]);
      expect(arnB).toBe(arnA);
    });

    it('keeps the oldest of two tagged certificates a race left (each run\'s list missed the other\'s) and deletes the other at the next write', async () => {
      const ca = await generateCa({ authority: 'cluster', generation: 1, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
      const before = await allCertificates(endpoint());
      const newer = await importTagged(endpoint(), await serverLeaf(ca), 'doubled', '2026-12-04T10:00:00.001Z');
      const older = await importTagged(endpoint(), await serverLeaf(ca), 'doubled', '2026-12-04T10:00:00.000Z');
      // A reader (status, plan) deletes nothing; the same process's first write does, though it remembers the ARN.
      const certificates = new AcmCertificates(endpoint().clients, 'deploy-a');
      expect(await certificates.arnOf(target('doubled'))).toBe(older);
      expect((await newSince(endpoint(), before)).sort()).toEqual([newer, older].sort());
      const next = await serverLeaf(ca);
      expect(await certificates.import(target('doubled'), next.certificatePem, next.privateKeyPem, ca.certificatePem)).toBe(older);
      expect(await newSince(endpoint(), before)).toEqual([older]);
    });

    it('never takes another deployment\'s or authority\'s certificate of the same name', async () => {
      const ca = await generateCa({ authority: 'cluster', generation: 1, now: Date.now() - DAY, lifetimeMs: 30 * DAY });
      const leaf = await serverLeaf(ca);
      const ours = await new AcmCertificates(endpoint().clients, 'deploy-a').import(target('shared'), leaf.certificatePem, leaf.privateKeyPem, ca.certificatePem);
      const theirs = await new AcmCertificates(endpoint().clients, 'deploy-b').import(target('shared'), leaf.certificatePem, leaf.privateKeyPem, ca.certificatePem);
      const otherAuthority = await new AcmCertificates(endpoint().clients, 'deploy-a').import({ ...target('shared'), authority: 'etcd' }, leaf.certificatePem, leaf.privateKeyPem, ca.certificatePem);
      expect(new Set([ours, theirs, otherAuthority]).size).toBe(3);
    });
  });
}
