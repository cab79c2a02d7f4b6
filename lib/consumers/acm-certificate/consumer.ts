/**
 * The ACM listener certificate consumer kind: each of an authority's `consumers.acmCertificates`
 * carries a copy of one server leaf, re-imported on its ARN (every listener, distribution and
 * custom domain using it keeps its association) through lib/aws/acm-certificate.ts; a target with
 * `createCertificate` is imported new on its first publish and found by its tags afterwards, and
 * names that ARN (status, plan) once it exists.
 *
 * ACM never gives a private key back, so a copy is read back by certificate: when the certificate
 * ACM serves is the leaf secret's certificate (the same DER: ACM may wrap the PEM
 * differently), it holds that leaf (ACM checked on import that the key matches it; only certrotate
 * imports it), and answers the secret's own content; otherwise it holds a leaf of no generation
 * and lags. ACM holds no trust bundle of its own: its `ca.crt` follows the leaf secret's.
 */
import { X509Certificate } from 'node:crypto';
import { PEM_BLOCK, firstCertificate, serialHexOf, type AcmCertificates } from '../../aws/acm-certificate.js';
import { certificateKey, type AcmCertificateTarget } from '../../config/aws-trust-targets.js';
import type { AuthorityConfig } from '../../config/index.js';
import { CertrotateError } from '../../errors.js';
import type { Consumer, ConsumerRun, ConsumerWrite, HeldContent, LeafContent } from '../../ports.js';

export const ACM_CERTIFICATE_PREFIX = 'acm-certificate:';

/** The leaf (first certificate of `tls.crt`) and the CA of `ca.crt` that issued it: what ImportCertificate takes. */
function importParts(content: LeafContent): { certificate: string; chain: string } {
  const blocks = content['tls.crt'].match(PEM_BLOCK) ?? [];
  const certificate = blocks[0] ?? content['tls.crt'];
  const leaf = new X509Certificate(certificate);
  const rest = blocks.slice(1).join('');
  if (rest !== '') return { certificate, chain: rest };
  const issuer = (content['ca.crt'].match(PEM_BLOCK) ?? []).find((ca) => leaf.checkIssued(new X509Certificate(ca)));
  return { certificate, chain: issuer ?? '' };
}

/** `ACM certificate 1234abcd-... (eu-west-1, created as "web-listener") serving leaf web`. */
function describe(target: AcmCertificateTarget, arn: string | undefined): string {
  const shortArn = arn === undefined ? undefined : (arn.split('/')[1] ?? arn);
  if ('arn' in target.certificate) return `ACM certificate ${shortArn ?? target.certificate.arn} (${target.region}) serving leaf ${target.leaf}`;
  const created = `"${target.certificate.create}"`;
  return shortArn === undefined
    ? `ACM certificate ${created} (${target.region}, not created yet: imported on first publish) serving leaf ${target.leaf}`
    : `ACM certificate ${shortArn} (${target.region}, created as ${created}) serving leaf ${target.leaf}`;
}

export function acmCertificateConsumer(authority: string, target: AcmCertificateTarget, certificates: AcmCertificates, run: ConsumerRun): Consumer {
  const id = `${ACM_CERTIFICATE_PREFIX}${certificateKey(target)}`;
  // The ARN as last read or written in this run: a created certificate's is known only then.
  let arn = 'arn' in target.certificate ? target.certificate.arn : undefined;
  return {
    id,
    get name() {
      return describe(target, arn);
    },
    scope: id,
    get location() {
      return { region: target.region, certificateArn: arn ?? 'not created yet', ...('create' in target.certificate ? { createCertificate: target.certificate.create } : {}) };
    },
    leaf: target.leaf,
    restartsWorkloads: false,
    matching: 'exact',
    external: true,
    async readBack(): Promise<HeldContent | undefined> {
      const read = await certificates.readBack(target);
      arn = read.arn ?? arn;
      // As the run read it before reading its consumers back; read here only when the run did not.
      const leaf = run.reads.wholeLeaf(target.leaf) ?? (await run.store.readLeaves(authority, [target.leaf])).leaves[0];
      const served = firstCertificate(read.certificatePem);
      const ours = firstCertificate(leaf?.certificatePem);
      if (leaf !== undefined && served !== undefined && ours !== undefined && served.raw.equals(ours.raw)) {
        return { 'tls.crt': leaf.certificatePem, 'tls.key': leaf.privateKeyPem, 'ca.crt': leaf.bundlePem };
      }
      // Some other certificate (or none): a copy of no generation, which lags until re-imported.
      return read.certificatePem === undefined ? undefined : { 'tls.crt': read.certificatePem };
    },
    publishBundle(): Promise<ConsumerWrite> {
      return Promise.reject(new CertrotateError(`${describe(target, arn)} holds a copy of leaf ${target.leaf}: publish the leaf`));
    },
    async publishLeaf(content: LeafContent): Promise<ConsumerWrite> {
      const read = await certificates.readBack(target);
      arn = read.arn ?? arn;
      // A new ca.crt alone changes nothing ACM holds: no import (and no new ImportedAt) for it.
      if (read.serialHex !== '' && read.serialHex === serialHexOf(content['tls.crt'])) return { changed: false, restarted: [], missing: [] };
      const { certificate, chain } = importParts(content);
      arn = await certificates.import(target, certificate, content['tls.key'], chain);
      return { changed: true, restarted: [], missing: [] };
    },
  };
}

export function acmCertificateConsumers(certificates: AcmCertificates | undefined): (authority: AuthorityConfig, run: ConsumerRun) => Consumer[] {
  return (authority, run) =>
    certificates === undefined ? [] : (authority.consumers?.acmCertificates ?? []).map((target) => acmCertificateConsumer(authority.name, target, certificates, run));
}
