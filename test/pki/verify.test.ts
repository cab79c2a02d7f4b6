import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BadSignatureError,
  Certificate,
  CertificateExpiredError,
  CertificateNotYetValidError,
  Issuer,
  NotACaError,
  PathLengthError,
  UnknownIssuerError,
  WrongPurposeError,
  generateCa,
  verifyChain,
} from '../../lib/pki/index.js';
import { DAY, T0, foreignCertificate } from '../support/pki.js';

const ca1 = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: 90 * DAY });
const ca2 = await generateCa({ authority: 'cluster', generation: 2, now: T0 + DAY, lifetimeMs: 90 * DAY });
const issued = T0 + 2 * DAY;
const server1 = await Issuer.fromCaGeneration(ca1).issueLeaf({ subject: 'CN=s1', usage: 'server', lifetimeMs: 10 * DAY }, issued);
const client2 = await Issuer.fromCaGeneration(ca2).issueLeaf({ subject: 'CN=c2', usage: 'client', lifetimeMs: 10 * DAY }, issued);
const bundle12 = ca1.certificatePem + ca2.certificatePem;

describe('verifyChain', () => {
  it('verifies leaves of generation N and N+1 against the bundle [N, N+1], returning the anchor', () => {
    expect(verifyChain(server1.certificatePem, bundle12, issued).anchor.subject).toBe('CN=certrotate cluster CA 1');
    expect(verifyChain(client2.certificatePem, bundle12, issued).anchor.subject).toBe('CN=certrotate cluster CA 2');
  });

  it('refuses a leaf of N against [N+1] alone with UnknownIssuerError naming the key ids', () => {
    expect(() => verifyChain(server1.certificatePem, ca2.certificatePem, issued)).toThrow(UnknownIssuerError);
    expect(() => verifyChain(server1.certificatePem, ca2.certificatePem, issued)).toThrow(
      new RegExp(`issuer key id is ${ca1.certificate.subjectKeyId ?? ''}`),
    );
  });

  it('treats the leaf validity window as inclusive at both ends', () => {
    const { notBefore, notAfter } = server1.certificate;
    expect(verifyChain(server1.certificatePem, bundle12, notBefore).leaf.subject).toBe('CN=s1');
    expect(verifyChain(server1.certificatePem, bundle12, notAfter).leaf.subject).toBe('CN=s1');
    expect(() => verifyChain(server1.certificatePem, bundle12, notBefore - 1)).toThrow(CertificateNotYetValidError);
    expect(() => verifyChain(server1.certificatePem, bundle12, notAfter + 1)).toThrow(CertificateExpiredError);
  });

  it('checks the anchor CA validity window too, inclusive at both ends', async () => {
    const shortCa = await generateCa({ authority: 'cluster', generation: 3, now: T0, lifetimeMs: 5 * DAY });
    const leaf = await Issuer.fromCaGeneration(shortCa).issueLeaf({ subject: 'CN=x', usage: 'server', lifetimeMs: 30 * DAY }, T0);
    expect(leaf.clippedToIssuer).toBe(true);
    expect(verifyChain(leaf.certificatePem, shortCa.certificatePem, shortCa.certificate.notAfter).anchor.subject).toBe(
      'CN=certrotate cluster CA 3',
    );
    // The leaf is clipped to the CA, so past the CA's end the leaf expires first; hand-made
    // leaves that outlive their CA are caught at the anchor.
    const outliving = await foreignCertificate({
      subject: 'CN=outliving',
      issuer: shortCa.certificate,
      subjectKeys: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
      signingKey: shortCa.privateKey,
      notBefore: T0,
      notAfter: T0 + 30 * DAY,
      ca: false,
    });
    expect(() => verifyChain([outliving], shortCa.certificatePem, shortCa.certificate.notAfter + 1)).toThrow(
      /certrotate cluster CA 3.*expired/,
    );
  });

  it('refuses an expired CA in the bundle even when the leaf is still valid', async () => {
    const expiredCa = await generateCa({ authority: 'etcd', generation: 1, now: T0, lifetimeMs: DAY });
    const leaf = await foreignCertificate({
      subject: 'CN=y',
      issuer: expiredCa.certificate,
      subjectKeys: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
      signingKey: expiredCa.privateKey,
      notBefore: T0,
      notAfter: T0 + 10 * DAY,
      ca: false,
    });
    expect(() => verifyChain([leaf], [expiredCa.certificate], T0 + 2 * DAY)).toThrow(CertificateExpiredError);
  });

  it('checks extendedKeyUsage for the purpose asked', () => {
    expect(verifyChain(server1.certificatePem, bundle12, issued, { purpose: 'serverAuth' }).leaf.subject).toBe('CN=s1');
    expect(() => verifyChain(server1.certificatePem, bundle12, issued, { purpose: 'clientAuth' })).toThrow(WrongPurposeError);
    expect(() => verifyChain(client2.certificatePem, bundle12, issued, { purpose: 'serverAuth' })).toThrow(WrongPurposeError);
  });

  it('refuses a leaf whose signature was altered', () => {
    const der = Uint8Array.from(server1.certificate.der);
    const last = der.length - 1;
    der[last] = (der[last] ?? 0) ^ 0xff;
    expect(() => verifyChain([Certificate.fromDer(der)], bundle12, issued)).toThrow(BadSignatureError);
  });

  it('refuses a certificate issued by a non-CA', async () => {
    const byLeaf = await foreignCertificate({
      subject: 'CN=child-of-leaf',
      issuer: server1.certificate,
      subjectKeys: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
      signingKey: server1.privateKey,
      notBefore: issued,
      notAfter: issued + DAY,
      ca: false,
    });
    expect(() => verifyChain([byLeaf], [server1.certificate], issued)).toThrow(NotACaError);
  });

  it('enforces pathLen: an intermediate under a pathLen 0 CA is refused, under pathLen 1 accepted', async () => {
    const rootKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const intermediateKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const build = async (rootPathLength: number) => {
      const root = await foreignCertificate({
        subject: `CN=root ${rootPathLength}`, issuer: undefined, subjectKeys: rootKeys, signingKey: rootKeys.privateKey,
        notBefore: T0, notAfter: T0 + 10 * DAY, ca: true, pathLength: rootPathLength,
      });
      const intermediate = await foreignCertificate({
        subject: 'CN=intermediate', issuer: root, subjectKeys: intermediateKeys, signingKey: rootKeys.privateKey,
        notBefore: T0, notAfter: T0 + 10 * DAY, ca: true, pathLength: 0,
      });
      const leaf = await foreignCertificate({
        subject: 'CN=deep', issuer: intermediate, subjectKeys: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
        signingKey: intermediateKeys.privateKey, notBefore: T0, notAfter: T0 + 5 * DAY, ca: false,
      });
      return { root, chain: [leaf, intermediate] };
    };
    const allowed = await build(1);
    expect(verifyChain(allowed.chain, [allowed.root], T0 + DAY).intermediates.map((c) => c.subject)).toEqual(['CN=intermediate']);
    const refused = await build(0);
    expect(() => verifyChain(refused.chain, [refused.root], T0 + DAY)).toThrow(PathLengthError);
  });

  it('refuses an empty chain', () => {
    expect(() => verifyChain([], bundle12, issued)).toThrow(UnknownIssuerError);
  });
});
