import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEMA_NODE_LIMIT_SAFE_BYTES, readPlainCertificate, type CertificateFields } from '../../lib/pki/certificate-der.js';
import { nameText, readCertificateBySchema } from '../../lib/pki/certificate-schema.js';
import { derSequence, derTlv } from '../../lib/pki/der.js';
import { InvalidPemError, Issuer, KEY_ALGORITHMS, generateCa, parseCertificate } from '../../lib/pki/index.js';
import { DAY, T0 } from '../support/pki.js';

const dir = mkdtempSync(join(tmpdir(), 'certrotate-der-'));

/** A self-signed certificate made by OpenSSL with the given subject and extensions. */
function openssl(name: string, subject: string, extensions: string[], extra: string[] = []): Uint8Array {
  const out = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', out, '-subj', subject, ...extensions.flatMap((extension) => ['-addext', extension]), ...extra],
    { stdio: 'pipe' },
  );
  return parseCertificate(readFileSync(out, 'utf8')).der;
}

const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: 90 * DAY });
const rsaCa = await generateCa({ authority: 'rsa', generation: 3, now: T0, lifetimeMs: 90 * DAY, algorithm: KEY_ALGORITHMS.find((algorithm) => algorithm.startsWith('rsa')) });
const issued = await Issuer.fromCaGeneration(ca).issueLeaf(
  { subject: 'CN=api, O=Example', dnsNames: ['api', 'api.example.svc'], ipAddresses: ['10.0.0.7', '127.0.0.1'], usage: 'both', lifetimeMs: DAY },
  T0,
);

const utf8Named = openssl('utf8', '/CN=Müller Ü/O=Straße', ['basicConstraints=CA:FALSE'], ['-utf8']);

/** Certificates in the plain shape: certrotate's own and OpenSSL's usual ones. */
const plain: [string, Uint8Array][] = [
  ['certrotate CA', ca.certificate.der],
  ['certrotate RSA CA', rsaCa.certificate.der],
  ['certrotate leaf', parseCertificate(issued.certificatePem).der],
  ['OpenSSL CA with pathlen', openssl('ca', '/CN=Ops Root/O=Example, Inc./OU=PKI', ['basicConstraints=critical,CA:TRUE,pathlen:2', 'keyUsage=critical,keyCertSign,cRLSign'])],
  ['OpenSSL leaf with SANs', openssl('leaf', '/CN=web.cluster.svc', ['subjectAltName=DNS:web,DNS:*.web.svc,IP:192.168.1.20,URI:spiffe://example.org/web', 'extendedKeyUsage=serverAuth,clientAuth,1.3.6.1.4.1.311.10.3.4', 'keyUsage=digitalSignature,keyAgreement,decipherOnly'])],
  ['OpenSSL leaf with a UTF-8 name', utf8Named],
  ['a validity past 2049 (GeneralizedTime)', openssl('far', '/CN=far', [], ['-days', '15000'])],
  ['a multi-valued name', openssl('multi', '/CN=a+OU=b/O=c', [], ['-multivalue-rdn'])],
];

/** Shapes left to the schema: each must come back undefined, and the schema must read it. */
const unusual: [string, Uint8Array][] = [
  ['an IPv6 SAN', openssl('ipv6', '/CN=v6', ['subjectAltName=IP:2001:db8::1'])],
  ['an email SAN', openssl('email', '/CN=mail', ['subjectAltName=email:ops@example.com'])],
  ['an authority key id with issuer and serial', openssl('akid', '/CN=akid', ['authorityKeyIdentifier=keyid,issuer:always'])],
  ['a BMPString name', bmpNamed()],
];

/** OpenSSL writes no BMPString names: an OpenSSL certificate's UTF8String CN "ab" retagged. */
function bmpNamed(): Uint8Array {
  const der = openssl('bmp', '/CN=ab', []);
  const utf8Cn = Buffer.from('0603550403' + '0c02' + Buffer.from('ab').toString('hex'), 'hex');
  const copy = Buffer.from(der);
  for (let at = copy.indexOf(utf8Cn); at >= 0; at = copy.indexOf(utf8Cn, at + 1)) copy[at + 5] = 0x1e;
  return new Uint8Array(copy);
}

const hex = (text: string): Uint8Array => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** A certificate put together from parts with the given extensions; its signature is not real (neither reader checks one). */
function assembled(extensions: Uint8Array[]): Uint8Array {
  const ecdsaWithSha256 = derSequence(hex('06 08 2a8648ce3d040302'));
  const name = (commonName: string) => derSequence(derTlv(0x31, derSequence(hex('06 03 550403'), derTlv(0x0c, Buffer.from(commonName)))));
  const validity = derSequence(derTlv(0x17, Buffer.from('260101000000Z')), derTlv(0x17, Buffer.from('270101000000Z')));
  const spki = parseCertificate(issued.certificatePem).spkiDer;
  const tbs = derSequence(derTlv(0xa0, hex('02 01 02')), hex('02 01 01'), ecdsaWithSha256, name('ca'), validity, name('leaf'), spki, derTlv(0xa3, derSequence(...extensions)));
  return derSequence(tbs, ecdsaWithSha256, derTlv(0x03, hex('00 3006 020101 020101')));
}

/** An extension nobody reads (1.2.3.4) holding a SEQUENCE of `count` NULLs: many ASN.1 nodes in few bytes. */
function nulls(count: number): Uint8Array {
  return derSequence(hex('06 03 2a0304'), derTlv(0x04, derTlv(0x30, Buffer.alloc(count * 2).fill(Buffer.from([0x05, 0x00])))));
}

/** The fields as certrotate sees them: names as text (the schema path holds names re-encoded). */
function comparable(fields: CertificateFields): unknown {
  const { subjectDer, issuerDer, ...rest } = fields;
  return { ...rest, subject: nameText(subjectDer, 'subject'), issuer: nameText(issuerDer, 'issuer'), spkiDer: Buffer.from(fields.spkiDer).toString('hex') };
}

function schemaOrError(der: Uint8Array): unknown {
  try {
    return comparable(readCertificateBySchema(der));
  } catch (error) {
    return error instanceof InvalidPemError ? 'refused' : error;
  }
}

/** A small deterministic generator, so that a failure names the mutation that caused it. */
function* mutations(der: Uint8Array, seed: number, count: number): Generator<[string, Uint8Array]> {
  let state = seed;
  const next = (limit: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % limit;
  };
  for (let i = 0; i < count; i++) {
    const copy = new Uint8Array(der);
    const at = next(der.length);
    const kind = next(3);
    if (kind === 0) copy[at] = next(256);
    else if (kind === 1) copy[at] = (copy[at] ?? 0) ^ (1 << next(8));
    else {
      yield [`truncated to ${at}`, der.slice(0, at)];
      continue;
    }
    yield [`byte ${at} set to ${copy[at]}`, copy];
  }
}

describe('readPlainCertificate', () => {
  it.each(plain)('reads %s exactly as the schema does', (_name, der) => {
    const fast = readPlainCertificate(der);
    if (fast === undefined) throw new Error('the plain reader left a plain certificate to the schema');
    expect(comparable(fast)).toStrictEqual(comparable(readCertificateBySchema(der)));
  });

  it('renders names as the schema path did', () => {
    expect(parseCertificate(utf8Named).subject).toBe('CN=Müller Ü, O=Straße');
    expect(parseCertificate(issued.certificatePem).subject).toBe('CN=api, O=Example');
    expect(parseCertificate(issued.certificatePem).issuer).toBe('CN=certrotate cluster CA 1');
  });

  it.each(unusual)('leaves %s to the schema, which reads it', (_name, der) => {
    expect(readPlainCertificate(der)).toBeUndefined();
    expect(() => readCertificateBySchema(der)).not.toThrow();
    expect(parseCertificate(der).der).toEqual(der);
  });

  it('never reads a corrupted certificate differently from the schema, and never accepts what the schema refuses', () => {
    let read = 0;
    for (const [name, der] of plain) {
      for (const [mutation, mutated] of mutations(der, der.length, 1500)) {
        const fast = readPlainCertificate(mutated);
        if (fast === undefined) continue;
        read++;
        expect(schemaOrError(mutated), `${name}, ${mutation}`).toEqual(comparable(fast));
      }
    }
    // Most single-byte changes fall in the key and signature bits, which read the same.
    expect(read).toBeGreaterThan(1000);
  });

  it('reads a pathLen of four bytes as the number the schema gives', () => {
    const der = assembled([derSequence(hex('06 03 551d13'), derTlv(0x04, derSequence(hex('01 01 ff'), hex('02 04 01000000'))))]);
    const fast = readPlainCertificate(der);
    expect(fast?.pathLength).toBe(16_777_216);
    expect(comparable(readCertificateBySchema(der))).toEqual(fast === undefined ? undefined : comparable(fast));
  });

  it("leaves a certificate past the schema's node limit to the schema, which refuses it", () => {
    const der = assembled([nulls(10_001)]);
    expect(readPlainCertificate(der)).toBeUndefined();
    expect(() => parseCertificate(der)).toThrow(InvalidPemError);
  });

  it('reads the densest certificate within its size bound as the schema does (the bound still fits the schema)', () => {
    // Long-form lengths take a few bytes more than the estimate: step down to the bound.
    let count = Math.floor((SCHEMA_NODE_LIMIT_SAFE_BYTES - assembled([nulls(0)]).length) / 2);
    while (assembled([nulls(count)]).length > SCHEMA_NODE_LIMIT_SAFE_BYTES) count--;
    const der = assembled([nulls(count)]);
    expect(der.length).toBeGreaterThan(SCHEMA_NODE_LIMIT_SAFE_BYTES - 2);
    const fast = readPlainCertificate(der);
    if (fast === undefined) throw new Error('the plain reader left a certificate within its bound to the schema');
    expect(comparable(fast)).toEqual(comparable(readCertificateBySchema(der)));
  });

  it('refuses through the schema what is not a certificate at all', () => {
    for (const bytes of [new Uint8Array(), Uint8Array.of(0x30, 0x80, 0, 0), Uint8Array.of(0x30, 0x81, 0x05, 1, 2, 3, 4, 5)]) {
      expect(readPlainCertificate(bytes)).toBeUndefined();
      expect(() => parseCertificate(bytes)).toThrow(InvalidPemError);
    }
  });
});
