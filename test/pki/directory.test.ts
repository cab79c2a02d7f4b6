import { describe, expect, it } from 'vitest';
import { CaDirectory, Issuer, generateCa, type CaGeneration } from '../../lib/pki/index.js';
import { DAY, T0 } from '../support/pki.js';

async function ca(authority: string, generation: number): Promise<CaGeneration> {
  return generateCa({ authority, generation, now: T0, lifetimeMs: 365 * DAY });
}

async function leafOf(issuerCa: CaGeneration, name: string): Promise<{ certificatePem: string; privateKeyPem: string }> {
  return Issuer.fromCaGeneration(issuerCa).issueLeaf({ subject: `CN=${name}`, dnsNames: [`${name}.local`], usage: 'server', lifetimeMs: 30 * DAY }, T0);
}

describe('CaDirectory across a new CA generation', () => {
  it('keeps what the smaller CA set learnt of sound leaves, and examines the others afresh', async () => {
    const [one, two, stranger] = await Promise.all([ca('dir', 1), ca('dir', 2), ca('other', 1)]);
    const fromOne = await leafOf(one, 'from-one');
    const fromTwo = await leafOf(two, 'from-two');
    const mismatched = { certificatePem: fromOne.certificatePem, privateKeyPem: fromTwo.privateKeyPem };
    const fromStranger = await leafOf(stranger, 'from-stranger');

    const before = CaDirectory.of([{ generation: 1, certificate: one.certificate }]);
    expect(before.examineLeaf(fromOne.certificatePem, fromOne.privateKeyPem)).toMatchObject({ generation: 1, problem: undefined });
    expect(before.examineLeaf(fromTwo.certificatePem, fromTwo.privateKeyPem)).toMatchObject({ generation: undefined, problem: 'untrusted-issuer' });
    expect(before.examineLeaf(mismatched.certificatePem, mismatched.privateKeyPem).problem).toBe('key-mismatch');

    const after = CaDirectory.of([
      { generation: 1, certificate: one.certificate },
      { generation: 2, certificate: two.certificate },
    ]);
    expect(after).not.toBe(before);
    // Carried over, not examined again: the very answer the smaller set gave.
    expect(after.examineLeaf(fromOne.certificatePem, fromOne.privateKeyPem)).toBe(before.examineLeaf(fromOne.certificatePem, fromOne.privateKeyPem));
    expect(after.examineLeaf(fromOne.certificatePem, fromOne.privateKeyPem)).toMatchObject({ generation: 1, problem: undefined });
    // Untrusted under [1], issued by 2: trusted now, not a stale answer carried over.
    expect(after.examineLeaf(fromTwo.certificatePem, fromTwo.privateKeyPem)).toMatchObject({ generation: 2, problem: undefined });
    expect(after.examineLeaf(mismatched.certificatePem, mismatched.privateKeyPem).problem).toBe('key-mismatch');
    expect(after.examineLeaf(fromStranger.certificatePem, fromStranger.privateKeyPem).problem).toBe('untrusted-issuer');

    // A set that lost a CA (1 retired) learns nothing from a set that had it.
    const retired = CaDirectory.of([{ generation: 2, certificate: two.certificate }]);
    expect(retired.examineLeaf(fromOne.certificatePem, fromOne.privateKeyPem)).toMatchObject({ generation: undefined, problem: 'untrusted-issuer' });
  });
});

describe('CaDirectory.storedFormOf: a bundle another service handed back, compared as certificates', () => {
  it('gives the stored form for re-wrapped, CRLF, reordered, spaced PEM of distinct CAs, and nothing for an extra, duplicate or broken one', async () => {
    const [one, two, stranger] = await Promise.all([ca('dir', 1), ca('dir', 2), ca('other', 1)]);
    const directory = CaDirectory.of([
      { generation: 1, certificate: one.certificate },
      { generation: 2, certificate: two.certificate },
    ]);
    const stored = one.certificate.pem + two.certificate.pem;
    const rewrap = (pem: string, width: number, eol: string) => {
      const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
      return `-----BEGIN CERTIFICATE-----${eol}${(body.match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join(eol)}${eol}-----END CERTIFICATE-----`;
    };
    expect(directory.storedFormOf(stored)).toBe(stored);
    expect(directory.storedFormOf(`${rewrap(two.certificatePem, 76, '\r\n')}\r\n\r\n  ${rewrap(one.certificatePem, 64, '\r\n')}`)).toBe(stored);
    expect(directory.storedFormOf(rewrap(two.certificatePem, 40, '\n'))).toBe(two.certificate.pem);
    expect(directory.storedFormOf(stored + stranger.certificatePem)).toBeUndefined();
    expect(directory.storedFormOf(stored + one.certificatePem)).toBeUndefined();
    expect(directory.storedFormOf(`${one.certificatePem}-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n`)).toBeUndefined();
    expect(directory.storedFormOf('garbage')).toBeUndefined();
    expect(directory.storedFormOf(`${one.certificatePem}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`)).toBeUndefined();
  });
});
