/**
 * A large fleet, seeded fast for `reconcile100k`: one leaf is issued through the real engine (its
 * CA, bundle, leaf secret and inventory row), and every other leaf is that leaf's certificate with
 * a serial of its own, signed again by the CA (distinct certificates and fingerprints, valid
 * signatures, the same key and names), written straight into the local Secrets Manager's store as
 * a snapshot to start from, with its inventory row. What the reconcile then reads is what it reads
 * on AWS: one secret per leaf, parsed, examined (issuer signature, key match) and compared with
 * its row. Seeding 100,000 leaves this way takes seconds, not the half hour issuing them takes.
 */
import { createHash, createPrivateKey, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { CertrotateConfig } from '../lib/config/index.js';
import type { LeafInventoryRow } from '../lib/ports.js';
import type { SecretsSnapshot } from '../lib/local/secrets-manager/snapshot.js';
import { renewAt } from '../lib/renewal/index.js';

/** One DER element: where its content starts and ends. */
function element(der: Buffer, offset: number): { tag: number; start: number; end: number } {
  const tag = der[offset] ?? 0;
  const first = der[offset + 1] ?? 0;
  if (first < 0x80) return { tag, start: offset + 2, end: offset + 2 + first };
  const bytes = first & 0x7f;
  let length = 0;
  for (let i = 0; i < bytes; i++) length = length * 256 + (der[offset + 2 + i] ?? 0);
  return { tag, start: offset + 2 + bytes, end: offset + 2 + bytes + length };
}

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const ECDSA_WITH_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex');

/** Re-signs a P-256 leaf with a new serial of the same length: distinct certificates at ~0.1 ms each. */
export class LeafCloner {
  readonly #tbs: Buffer;
  readonly #serial: { start: number; end: number };
  readonly #algorithm: Buffer;
  readonly #caKey: KeyObject;

  constructor(templatePem: string, caKeyPem: string) {
    const der = Buffer.from(templatePem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const certificate = element(der, 0);
    const tbs = element(der, certificate.start);
    this.#tbs = der.subarray(certificate.start, tbs.end);
    const algorithm = element(der, tbs.end);
    this.#algorithm = der.subarray(tbs.end, algorithm.end);
    if (!this.#algorithm.includes(ECDSA_WITH_SHA256)) throw new Error('the template leaf is not signed with ecdsa-with-SHA256 (a P-256 CA)');
    const tbsBody = element(this.#tbs, 0);
    const version = element(this.#tbs, tbsBody.start);
    const serial = element(this.#tbs, version.tag === 0xa0 ? version.end : tbsBody.start);
    if (serial.tag !== 0x02) throw new Error('no serial number where one was expected');
    this.#serial = serial;
    this.#caKey = createPrivateKey(caKeyPem);
  }

  /** A certificate PEM and its facts (serial, SHA-256 fingerprint) for a new random serial. */
  clone(): { pem: string; serialHex: string; fingerprintSha256: string } {
    const tbs = Buffer.from(this.#tbs);
    const serial = randomBytes(this.#serial.end - this.#serial.start);
    serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x10;
    serial.copy(tbs, this.#serial.start);
    const signature = sign('sha256', tbs, this.#caKey);
    const bitString = Buffer.concat([Buffer.from([0x03]), encodeLength(signature.length + 1), Buffer.from([0]), signature]);
    const body = Buffer.concat([tbs, this.#algorithm, bitString]);
    const der = Buffer.concat([Buffer.from([0x30]), encodeLength(body.length), body]);
    const base64 = der.toString('base64').replace(/.{64}/g, '$&\n');
    return {
      pem: `-----BEGIN CERTIFICATE-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`,
      serialHex: serial.toString('hex'),
      fingerprintSha256: createHash('sha256').update(der).digest('hex'),
    };
  }
}

type SecretJson = SecretsSnapshot['secrets'][number];

/**
 * The snapshot with leaves `ids` added, each a clone of the template leaf's secret (same tags and
 * layout, a certificate of its own), and the inventory rows that index them.
 */
export function seedLeaves(
  snapshot: SecretsSnapshot,
  template: { name: string; leafId: string; cloner: LeafCloner; notAfter: number },
  ids: readonly string[],
  config: CertrotateConfig,
): { snapshot: SecretsSnapshot; rows: LeafInventoryRow[] } {
  const original = snapshot.secrets.find((secret) => secret.name === template.name);
  const value = original?.versions.find((version) => version.stages.includes('AWSCURRENT'))?.secretString;
  if (original === undefined || value === undefined) throw new Error(`no secret ${template.name} to copy`);
  const content = JSON.parse(value) as Record<string, string>;
  const authority = original.tags.find(([key]) => key === 'certrotate:authority')?.[1] ?? '';
  const secrets: SecretJson[] = [];
  const rows: LeafInventoryRow[] = [];
  for (const id of ids) {
    const leaf = template.cloner.clone();
    const name = template.name.slice(0, template.name.length - template.leafId.length) + id;
    const secretString = JSON.stringify({ 'tls.crt': leaf.pem, 'tls.key': content['tls.key'], 'ca.crt': content['ca.crt'] });
    secrets.push({
      ...original,
      arn: original.arn.replace(template.name, name),
      name,
      tags: original.tags.map(([key, tag]) => [key, key === 'certrotate:leaf' ? id : tag]),
      versions: [{ id: randomUUID(), secretString, secretBinary: undefined, stages: ['AWSCURRENT'], createdMs: original.createdMs }],
    });
    const { notAfter } = template;
    rows.push({ authority, id, renewAt: renewAt(id, notAfter, config.renewal), notAfter, generation: 1, serialHex: leaf.serialHex, fingerprintSha256: leaf.fingerprintSha256 });
  }
  return { snapshot: { ...snapshot, secrets: [...snapshot.secrets, ...secrets] }, rows };
}
