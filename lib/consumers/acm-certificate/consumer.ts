/**
 * The ACM listener certificate consumer kind: each of an authority's `consumers.acmCertificates`
 * carries a copy of one server leaf, re-imported on its ARN (every listener, distribution and
 * custom domain using it keeps its association) through lib/aws/acm-certificate.ts.
 *
 * ACM never gives a private key back, so a copy is read back by serial: when the certificate ACM
 * serves has the serial of the leaf secret's certificate (and is that certificate), it holds that
 * leaf (ACM checked on import that the key matches it; only certrotate imports it), and answers the
 * secret's own content; otherwise it holds a leaf of no generation and lags. ACM holds no trust
 * bundle of its own: its `ca.crt` follows the leaf secret's.
 */
import { X509Certificate } from 'node:crypto';
import { normalizeSerial, type AcmCertificates } from '../../aws/acm-certificate.js';
import type { AcmCertificateTarget } from '../../config/aws-trust-targets.js';
import type { AuthorityConfig } from '../../config/index.js';
import { CertrotateError } from '../../errors.js';
import type { Consumer, ConsumerRun, ConsumerWrite, HeldContent, LeafContent } from '../../ports.js';

export const ACM_CERTIFICATE_PREFIX = 'acm-certificate:';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g;

function serialOf(pem: string | undefined): string | undefined {
  const first = pem?.match(PEM_BLOCK)?.[0];
  if (first === undefined) return undefined;
  try {
    return normalizeSerial(new X509Certificate(first).serialNumber);
  } catch {
    return undefined;
  }
}

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

export function acmCertificateConsumer(authority: string, target: AcmCertificateTarget, certificates: AcmCertificates, run: ConsumerRun): Consumer {
  const shortArn = target.certificateArn.split('/')[1] ?? target.certificateArn;
  const name = `ACM certificate ${shortArn} (${target.region}) serving leaf ${target.leaf}`;
  const id = `${ACM_CERTIFICATE_PREFIX}${target.certificateArn}`;
  return {
    id,
    name,
    scope: id,
    location: { region: target.region, certificateArn: target.certificateArn },
    leaf: target.leaf,
    restartsWorkloads: false,
    matching: 'exact',
    external: true,
    async readBack(): Promise<HeldContent | undefined> {
      const [read, stored] = await Promise.all([certificates.readBack(target), run.store.readLeaves(authority, [target.leaf])]);
      const leaf = stored.leaves[0];
      const serial = serialOf(read.certificatePem);
      if (leaf !== undefined && serial !== undefined && serial === read.serialHex && serial === serialOf(leaf.certificatePem)) {
        return { 'tls.crt': leaf.certificatePem, 'tls.key': leaf.privateKeyPem, 'ca.crt': leaf.bundlePem };
      }
      // Some other certificate (or none): a copy of no generation, which lags until re-imported.
      return read.certificatePem === undefined ? undefined : { 'tls.crt': read.certificatePem };
    },
    publishBundle(): Promise<ConsumerWrite> {
      return Promise.reject(new CertrotateError(`${name} holds a copy of leaf ${target.leaf}: publish the leaf`));
    },
    async publishLeaf(content: LeafContent): Promise<ConsumerWrite> {
      const read = await certificates.readBack(target);
      // A new ca.crt alone changes nothing ACM holds: no import (and no new ImportedAt) for it.
      if (read.serialHex !== '' && read.serialHex === serialOf(content['tls.crt'])) return { changed: false, restarted: [], missing: [] };
      const { certificate, chain } = importParts(content);
      await certificates.import(target, certificate, content['tls.key'], chain);
      return { changed: true, restarted: [], missing: [] };
    },
  };
}

export function acmCertificateConsumers(certificates: AcmCertificates | undefined): (authority: AuthorityConfig, run: ConsumerRun) => Consumer[] {
  return (authority, run) =>
    certificates === undefined ? [] : (authority.consumers?.acmCertificates ?? []).map((target) => acmCertificateConsumer(authority.name, target, certificates, run));
}
