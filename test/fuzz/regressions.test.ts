/** Defects the fuzz suite found, each pinned by the input that showed it. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { keyMaterialProblem } from '../../lib/config/validate.js';
import { parseCommandEvent } from '../../lib/handlers/events.js';
import { generateKeyPairSync } from 'node:crypto';
import { ValidationError } from '../../lib/errors.js';
import { InvalidPemError, Issuer, PkiError, generateCa, parseCertificate } from '../../lib/pki/index.js';
import { DAY, T0 } from '../support/pki.js';

/** What `run` throws, or undefined. */
function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (caught) {
    return caught;
  }
  return undefined;
}

describe('fuzz regressions', () => {
  it('a certificate whose extension bytes are damaged is an InvalidPemError, not the ASN.1 library\'s plain Error', async () => {
    const ca = await generateCa({ authority: 'cluster', generation: 1, now: T0, lifetimeMs: 90 * DAY });
    const leaf = await Issuer.fromCaGeneration(ca).issueLeaf({ subject: 'CN=api', usage: 'server', lifetimeMs: DAY, dnsNames: ['api.local'] }, T0);
    const der = Buffer.from(leaf.certificate.der);
    // The AKI extension: OID 2.5.29.35 (06 03 55 1d 23), then its OCTET STRING; damage the inner SEQUENCE tag.
    const aki = der.indexOf(Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]));
    expect(aki).toBeGreaterThan(0);
    der[aki + 7] = 0x02;
    const error = thrown(() => parseCertificate(der));
    expect(error).toBeInstanceOf(InvalidPemError);
    expect(error).toBeInstanceOf(PkiError);
  });

  it('a config consumer holding a private key is refused without echoing it', () => {
    const key = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZ3x9\n-----END PRIVATE KEY-----';
    const document = {
      authorities: [{ name: 'cluster' }],
      leaves: [{ authority: 'cluster', id: 'api', subject: 'CN=api', usage: 'server', lifetimeDays: 30, consumers: [key, 'x'.repeat(25_000)] }],
    };
    expect(() => parseConfig(document)).toThrow(ValidationError);
    try {
      parseConfig(document);
    } catch (error) {
      const message = error instanceof Error ? error.message : '';
      expect(message).not.toContain('MIGHAgEAMBMG');
      expect(message.length).toBeLessThan(2_000);
    }
  });

  it('a request id or leaf id that is a pasted key line is refused without echoing it (npm run fuzz, seed 7: the id patterns admit 64 letters and digits, and the history showed the id in every status)', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyLine = (privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1] ?? '').replace(/[+/]/g, 'A');
    expect(keyLine).toMatch(/^[A-Za-z0-9]{64}$/);
    const config = parseConfig({ authorities: [{ name: 'cluster' }], leaves: [{ authority: 'cluster', id: 'api', subject: 'CN=api', usage: 'server', lifetimeDays: 30 }] });
    const events = [
      { action: 'rotate-ca', authority: 'cluster', requestId: keyLine, reason: 'planned' },
      { action: 'renew', authority: 'cluster', requestId: 'r-1', leaf: keyLine },
      { action: 'inspect', authority: 'cluster', leaf: keyLine },
    ];
    for (const event of events) {
      const error = thrown(() => parseCommandEvent(event, config));
      expect(error, JSON.stringify(event)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).not.toContain(keyLine.slice(0, 24));
    }
    expect(parseCommandEvent({ action: 'rotate-ca', authority: 'cluster', requestId: 'cli-2026-12-04T23:59:59.123Z-3f2a1b4c', reason: 'planned' }, config)).toMatchObject({ action: 'rotate-ca' });
  });

  it('a subject with a value in #hex (BER) form is refused by the configuration, which used to accept it and fail at issuance (npm run fuzz, seed 6)', () => {
    const document = (subject: string) => ({ authorities: [{ name: 'cluster' }], leaves: [{ authority: 'cluster', id: 'api', subject, usage: 'client', lifetimeDays: 7 }] });
    for (const subject of ['CN=#0403616263', 'O=example, CN = #0c03616263', 'CN=api+OU=#0403616263']) {
      expect(() => parseConfig(document(subject)), subject).toThrow(/has a value in #hex \(BER\) form/);
    }
    for (const subject of ['CN=\\#api', 'CN=api#1', 'CN=api,O=team #2']) expect(() => parseConfig(document(subject)), subject).not.toThrow();
  });

  it('a leaf id in the configuration that is a pasted key line is refused without echoing it, wherever a leaf is named (npm run fuzz, seed 13: an ACM target\'s leaf was echoed)', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyLine = (privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[2] ?? '').replace(/[+/]/g, 'A');
    expect(keyLine).toMatch(/^[A-Za-z0-9]{40,}$/);
    const leaf = { authority: 'cluster', id: 'api', subject: 'CN=api', dnsNames: ['api.example.com'], usage: 'server', lifetimeDays: 30 };
    const acm = { region: 'eu-west-1', leaf: keyLine, certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012' };
    const documents = [
      { authorities: [{ name: 'cluster', consumers: { acmCertificates: [acm] } }], leaves: [leaf] },
      { authorities: [{ name: 'cluster' }], leaves: [{ ...leaf, id: keyLine }] },
      { authorities: [{ name: 'cluster' }], leaves: [{ ...leaf, consumers: [keyLine] }] },
    ];
    for (const document of documents) {
      const error = thrown(() => parseConfig(document));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).message).not.toContain(keyLine.slice(0, 24));
    }
  });

  it('looking for key material in 100,000 spaces after BEGIN, or 100,000 dashes, takes linear time', () => {
    for (const text of [`BEGIN${' '.repeat(100_000)}x`, `${'-'.repeat(100_000)}x`, `BEGIN ${'A '.repeat(50_000)}`]) {
      const started = performance.now();
      expect(keyMaterialProblem(text)).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(2_000);
    }
  });

  it('a reason an operator writes in plain words is not mistaken for key material', () => {
    for (const text of ['we begin key rotation after the audit', 'Begin the certificate swap (ticket OPS-1234)', 'see https://wiki.example/pki/rotation-2026']) {
      expect(keyMaterialProblem(text), text).toBeUndefined();
    }
    expect(keyMaterialProblem('BEGIN PRIVATE KEY MIGHAgEAMBMG')).toBe('holds a PEM block');
  });

  it('a 100,000-character subject is refused at once, before the distinguished-name parser sees it', () => {
    const started = performance.now();
    expect(() =>
      parseConfig({ authorities: [{ name: 'cluster' }], leaves: [{ authority: 'cluster', id: 'api', subject: 'x'.repeat(100_000), usage: 'server', lifetimeDays: 30 }] }),
    ).toThrow(/config\.leaves\[0\]\.subject: .* is 100000 characters long/);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
