/**
 * The `inspect <authority>/<leaf>` command, like `step certificate inspect`: what a leaf secret
 * holds, as certrotate reads it (subject, SANs, issuer generation, validity, key algorithm,
 * fingerprints, the bundle in its `ca.crt`). Never the key: nothing of `tls.key` leaves here.
 */
import { createHash } from 'node:crypto';
import type { AuthorityConfig } from '../config/index.js';
import { NotFoundError } from '../errors.js';
import { inspectCertificate, parseCertificates, type SubjectAltNames } from '../pki/index.js';
import { renewAt } from '../renewal/index.js';
import type { EngineDeps } from './deps.js';
import { iso } from './history.js';
import { authorityParts } from './observe.js';

export interface LeafInspection {
  authority: string;
  leaf: string;
  subject: string;
  issuer: string;
  /** The CA generation that signed it; null when no stored CA did. */
  issuerGeneration: number | null;
  subjectAltNames: SubjectAltNames;
  extendedKeyUsage: string[];
  serialHex: string;
  notBefore: string;
  notAfter: string;
  residualMs: number;
  renewsAt: string;
  keyAlgorithm: string;
  fingerprints: { sha256: string; sha1: string };
  /** Certificates in `tls.crt` after the leaf. */
  chainLength: number;
  /** Generations in the leaf's `ca.crt`; null when unreadable. */
  bundle: number[] | null;
  /** A problem certrotate found with the secret (it will reissue the leaf), if any. */
  problem: string | null;
}

export async function inspectLeaf(deps: EngineDeps, authority: AuthorityConfig, leafId: string, now: number): Promise<LeafInspection> {
  const { world } = authorityParts(deps, authority);
  await world.loadCas();
  world.keepWhole([leafId]);
  const [record] = await world.readLeaves([leafId]);
  const stored = world.wholeLeaf(leafId);
  if (record === undefined || stored === undefined) {
    const why = record?.unreadable === undefined ? 'has no secret yet (it is issued by the next run)' : `cannot be read: ${record.unreadable}`;
    throw new NotFoundError(`leaf ${authority.name}/${leafId} ${why}`);
  }
  const [certificate, ...chain] = parseCertificates(stored.certificatePem);
  if (certificate === undefined) throw new NotFoundError(`leaf ${authority.name}/${leafId} holds no certificate`);
  const summary = inspectCertificate(certificate);
  return {
    authority: authority.name,
    leaf: leafId,
    subject: summary.subject,
    issuer: certificate.issuer,
    issuerGeneration: record.condition.generation ?? null,
    subjectAltNames: summary.subjectAltNames,
    extendedKeyUsage: summary.extendedKeyUsage,
    serialHex: summary.serialHex,
    notBefore: iso(summary.notBefore),
    notAfter: iso(summary.notAfter),
    residualMs: summary.notAfter - now,
    renewsAt: iso(renewAt(leafId, summary.notAfter, deps.config.renewal)),
    keyAlgorithm: summary.keyAlgorithm,
    fingerprints: { sha256: summary.fingerprintSha256, sha1: createHash('sha1').update(certificate.der).digest('hex') },
    chainLength: chain.length,
    bundle: record.holds ?? null,
    problem: record.condition.problem ?? null,
  };
}
