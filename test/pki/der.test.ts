import 'reflect-metadata';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { derTime, subjectPublicKeyBits } from '../../lib/pki/der.js';
import { generateCa, Issuer, parseSubject, tbsCertificateDer, type CertificateContent } from '../../lib/pki/index.js';

/** The TBSCertificate as the ASN.1 schema library encodes it: what issuance used to build. */
function schemaTbs(content: CertificateContent, issuer: asn1X509.Name, algorithmIdentifier: asn1X509.AlgorithmIdentifier): Uint8Array {
  const tbs = new asn1X509.TBSCertificate({
    version: asn1X509.Version.v3,
    serialNumber: Uint8Array.from(content.serial).buffer,
    signature: algorithmIdentifier,
    issuer,
    validity: new asn1X509.Validity({ notBefore: new Date(content.notBefore), notAfter: new Date(content.notAfter) }),
    subject: content.subject,
    subjectPublicKeyInfo: AsnConvert.parse(content.spkiDer, asn1X509.SubjectPublicKeyInfo),
    extensions: new asn1X509.Extensions(content.extensions),
  });
  return new Uint8Array(AsnConvert.serialize(tbs));
}

const ECDSA_SHA256 = new asn1X509.AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' });
const SPKIS = [
  generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
  generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey,
].map((key) => new Uint8Array(key.export({ type: 'spki', format: 'der' })));

/** 1950 to 9999, the range RFC 5280's two time types cover, with milliseconds that get dropped. */
const instant = fc.integer({ min: Date.UTC(1950, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59) });

describe('hand-framed DER for issuance', () => {
  it('frames the same TBSCertificate bytes as the ASN.1 schema library, for any serial, validity, names, key and extensions', () => {
    const issuer = parseSubject('CN=certrotate cluster CA 3,O=Example');
    const issuerDer = new Uint8Array(AsnConvert.serialize(issuer));
    const algorithmIdentifierDer = new Uint8Array(AsnConvert.serialize(ECDSA_SHA256));
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }).map((serial) => Uint8Array.from(serial, (byte, i) => (i === 0 ? (byte & 0x3f) | 0x40 : byte))),
        instant,
        instant,
        fc.stringMatching(/^[A-Za-z0-9 .-]{1,64}$/),
        fc.constantFrom(...SPKIS),
        fc.array(fc.tuple(fc.constantFrom('2.5.29.14', '2.5.29.17', '1.2.3.4'), fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 200 })), { minLength: 1, maxLength: 5 }),
        (serial, notBefore, notAfter, commonName, spkiDer, extensions) => {
          const content: CertificateContent = {
            serial,
            subject: parseSubject(`CN=${commonName.trim() === '' ? 'x' : commonName.trim()}`),
            notBefore,
            notAfter,
            spkiDer,
            extensions: extensions.map(([oid, critical, value]) => new asn1X509.Extension({ extnID: oid, critical, extnValue: new OctetString(value) })),
          };
          expect(Buffer.from(tbsCertificateDer(content, { nameDer: issuerDer, algorithmIdentifierDer })).toString('hex')).toBe(
            Buffer.from(schemaTbs(content, issuer, ECDSA_SHA256)).toString('hex'),
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050, to the second, and refuses years it cannot write', () => {
    expect(Buffer.from(derTime(Date.UTC(2049, 11, 31, 23, 59, 59, 999))).toString('latin1').slice(2)).toBe('491231235959Z');
    expect(derTime(Date.UTC(2049, 0, 1))[0]).toBe(0x17);
    expect(Buffer.from(derTime(Date.UTC(2050, 0, 1))).toString('latin1').slice(2)).toBe('20500101000000Z');
    expect(derTime(Date.UTC(2050, 0, 1))[0]).toBe(0x18);
    expect(() => derTime(Date.UTC(1949, 11, 31))).toThrow(RangeError);
    expect(() => derTime(Date.UTC(10000, 0, 1))).toThrow(RangeError);
  });

  it("reads the key bits out of a SubjectPublicKeyInfo, and refuses what is not one", () => {
    for (const spki of SPKIS) {
      const parsed = AsnConvert.parse(spki, asn1X509.SubjectPublicKeyInfo);
      expect(Buffer.from(subjectPublicKeyBits(spki)).equals(Buffer.from(parsed.subjectPublicKey))).toBe(true);
    }
    const p256 = SPKIS[0] ?? new Uint8Array();
    expect(() => subjectPublicKeyBits(p256.subarray(0, p256.length - 1))).toThrow(RangeError);
    expect(() => subjectPublicKeyBits(Uint8Array.of(0x30, 0x00))).toThrow(RangeError);
    expect(() => subjectPublicKeyBits(Uint8Array.of(0x04, 0x02, 0x00, 0x00))).toThrow(RangeError);
  });

  it('issues leaves OpenSSL accepts, whose key identifier is the SHA-1 of their key bits', async () => {
    const now = Date.now();
    const ca = await generateCa({ authority: 'der', generation: 1, now, lifetimeMs: 86_400_000 });
    const leaf = await Issuer.fromPem(ca.certificatePem, ca.privateKeyPem).issueLeaf({ subject: 'CN=der-leaf', dnsNames: ['der.example'], usage: 'both', lifetimeMs: 3_600_000 }, now);
    const bits = subjectPublicKeyBits(leaf.certificate.spkiDer);
    expect(leaf.certificate.subjectKeyId).toBe(createHash('sha1').update(bits).digest('hex'));
    const dir = mkdtempSync(join(tmpdir(), 'der-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
      writeFileSync(join(dir, 'leaf.pem'), leaf.certificatePem);
      expect(execFileSync('openssl', ['verify', '-x509_strict', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' })).toContain('leaf.pem: OK');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
