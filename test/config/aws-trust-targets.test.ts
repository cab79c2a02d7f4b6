import { describe, expect, it } from 'vitest';
import { TRUST_STORE_LIMITS, trustStoreBundleProblem } from '../../lib/config/aws-trust-targets.js';
import { parseConfig } from '../../lib/config/index.js';

const TRUST_STORE_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:truststore/clients/0123456789abcdef';
const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012';

function config(consumers: Record<string, unknown>, leaf: Record<string, unknown> = {}) {
  return {
    authorities: [{ name: 'cluster', consumers }, { name: 'other' }],
    leaves: [{ authority: 'cluster', id: 'web', subject: 'CN=web', dnsNames: ['web.example.com'], usage: 'server', lifetimeDays: 30, ...leaf }],
  };
}

function problemsOf(document: unknown): string {
  try {
    parseConfig(document);
  } catch (error) {
    return String(error);
  }
  throw new Error('expected the configuration to be refused');
}

describe('AWS trust targets in the configuration', () => {
  it('parses one of each kind into typed targets of the authority', () => {
    const parsed = parseConfig(
      config({
        elbv2TrustStores: [
          { region: 'eu-west-1', bucket: 'pki-bundles', key: 'cluster/alb.pem', trustStoreArn: TRUST_STORE_ARN },
          { region: 'eu-west-1', bucket: 'pki-bundles', key: 'cluster/nlb.pem', createTrustStore: 'nlb-clients' },
        ],
        apiGatewayDomains: [{ region: 'eu-west-1', bucket: 'pki-bundles', key: 'cluster/api.pem', domainName: 'api.example.com' }],
        acmCertificates: [{ region: 'eu-west-1', leaf: 'web', certificateArn: CERTIFICATE_ARN }],
      }),
    );
    const consumers = parsed.authorities[0]?.consumers;
    expect(consumers?.elbv2TrustStores?.map((t) => t.trustStore)).toEqual([{ arn: TRUST_STORE_ARN }, { create: 'nlb-clients' }]);
    expect(consumers?.apiGatewayDomains).toEqual([{ authority: 'cluster', region: 'eu-west-1', bucket: 'pki-bundles', key: 'cluster/api.pem', domainName: 'api.example.com' }]);
    expect(consumers?.acmCertificates).toEqual([{ authority: 'cluster', region: 'eu-west-1', leaf: 'web', certificate: { arn: CERTIFICATE_ARN } }]);
    expect(consumers?.eks).toEqual([]);
  });

  it('names the path of every bad field at once', () => {
    const message = problemsOf(
      config({
        elbv2TrustStores: [{ region: 'eu-west-1', bucket: 'Bad_Bucket', key: 'a.pem', trustStoreArn: TRUST_STORE_ARN, createTrustStore: 'x' }, { region: 'us-east-1', bucket: 'b-1', key: 'a.pem', trustStoreArn: TRUST_STORE_ARN }],
        apiGatewayDomains: [{ region: 'eu-west-1', bucket: 'b-1', key: 'a.pem', domainName: 'API.example.com' }],
        acmCertificates: [{ region: 'eu-west-1', leaf: 'nope', certificateArn: 'arn:aws:acm:eu-west-1:1:certificate/x' }],
      }),
    );
    expect(message).toMatch(/config\.authorities\[0\]\.consumers\.elbv2TrustStores\[0\]: name exactly one of trustStoreArn/);
    expect(message).toMatch(/elbv2TrustStores\[1\]\.trustStoreArn: is in eu-west-1, not in region us-east-1/);
    expect(message).toMatch(/apiGatewayDomains\[0\]\.domainName: "API.example.com" is not a lowercase domain name/);
    expect(message).toMatch(/acmCertificates\[0\]\.certificateArn: "arn:aws:acm:eu-west-1:1:certificate\/x" is not an ACM certificate ARN/);
    expect(message).toMatch(/acmCertificates\[0\]\.leaf: "nope" is not a leaf of authority "cluster"/);
  });

  it('refuses an ACM leaf whose key algorithm is not its authority\'s (ACM cannot change it on re-import)', () => {
    const message = problemsOf(config({ acmCertificates: [{ region: 'eu-west-1', leaf: 'web', certificateArn: CERTIFICATE_ARN }] }, { algorithm: 'rsa2048' }));
    expect(message).toMatch(/acmCertificates\[0\]\.leaf: "web" uses rsa2048 but authority "cluster" uses p256: ACM refuses a change of key algorithm on re-import/);
  });

  it('refuses a client leaf for ACM, and one S3 object written by two authorities', () => {
    expect(problemsOf(config({ acmCertificates: [{ region: 'eu-west-1', leaf: 'web', certificateArn: CERTIFICATE_ARN }] }, { usage: 'client' }))).toMatch(/is a client leaf/);
    const document = config({ apiGatewayDomains: [{ region: 'eu-west-1', bucket: 'b-1', key: 'a.pem', domainName: 'api.example.com' }] });
    document.authorities[1] = { name: 'other', consumers: { apiGatewayDomains: [{ region: 'eu-west-1', bucket: 'b-1', key: 'a.pem', domainName: 'api2.example.com' }] } };
    expect(problemsOf(document)).toMatch(/config\.authorities\[1\]\.consumers: s3:\/\/b-1\/a\.pem is also written by authority "cluster"/);
  });
});

describe('ACM certificates certrotate creates (createCertificate)', () => {
  it('parses a name instead of an ARN', () => {
    const parsed = parseConfig(config({ acmCertificates: [{ region: 'eu-west-1', leaf: 'web', createCertificate: 'web-listener' }] }));
    expect(parsed.authorities[0]?.consumers?.acmCertificates).toEqual([{ authority: 'cluster', region: 'eu-west-1', leaf: 'web', certificate: { create: 'web-listener' } }]);
  });

  it('refuses both an ARN and a name, and neither, naming the path', () => {
    const both = problemsOf(config({ acmCertificates: [{ region: 'eu-west-1', leaf: 'web', certificateArn: CERTIFICATE_ARN, createCertificate: 'web-listener' }] }));
    expect(both).toMatch(/config\.authorities\[0\]\.consumers\.acmCertificates\[0\]: name exactly one of certificateArn \(a certificate imported before\) or createCertificate/);
    const neither = problemsOf(config({ acmCertificates: [{ region: 'eu-west-1', leaf: 'web' }] }));
    expect(neither).toMatch(/config\.authorities\[0\]\.consumers\.acmCertificates\[0\]: name exactly one of certificateArn/);
  });

  it('refuses a bad name, and the same name twice in a region', () => {
    expect(problemsOf(config({ acmCertificates: [{ region: 'eu-west-1', leaf: 'web', createCertificate: 'web listener' }] }))).toMatch(/acmCertificates\[0\]\.createCertificate: "web listener" is not a certificate name/);
    const twice = problemsOf(config({ acmCertificates: [{ region: 'eu-west-1', leaf: 'web', createCertificate: 'a' }, { region: 'eu-west-1', leaf: 'web', createCertificate: 'a' }] }));
    expect(twice).toMatch(/acmCertificates\[1\]: is the same target as config\.authorities\[0\]\.consumers\.acmCertificates\[0\]/);
  });
});

describe('trustStoreBundleProblem', () => {
  const block = (bytes: number) => `-----BEGIN CERTIFICATE-----\n${'A'.repeat(bytes)}\n-----END CERTIFICATE-----\n`;
  it('allows 25 certificates of 16 KB and refuses 26, or one certificate over 16 KB, naming the quota', () => {
    const fits = block(TRUST_STORE_LIMITS.caCertificateSizeBytes - 60);
    expect(trustStoreBundleProblem(fits.repeat(25))).toBeUndefined();
    expect(trustStoreBundleProblem(block(100).repeat(26))).toMatch(/26 CA certificates; the ELBv2 quota "CA certificates per trust store" is 25/);
    expect(trustStoreBundleProblem(block(100) + block(TRUST_STORE_LIMITS.caCertificateSizeBytes))).toMatch(/certificate 2 of the bundle is \d+ bytes; the ELBv2 quota "CA certificate size" is 16 KB/);
  });
});
