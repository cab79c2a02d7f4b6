/**
 * A server leaf as an imported ACM certificate: `ImportCertificate` on the configured ARN (a
 * re-import keeps every listener, distribution and custom domain association), with the CA chain.
 * Read back with `DescribeCertificate`: its serial and key algorithm, and `GetCertificate`'s PEM.
 */
import type { AcmCertificateTarget } from '../config/aws-trust-targets.js';
import type { AwsTrustClients } from './aws-trust-clients.js';
import { onTarget, type TargetName } from './aws-target-errors.js';

export interface AcmReadBack {
  /** Lowercase hex without separators (ACM prints `0a:1b:...`). */
  serialHex: string;
  keyAlgorithm: string | undefined;
  certificatePem: string | undefined;
}

/**
 * ACM's serial as plain lowercase hex without leading zero bytes, comparable to a parsed serial.
 * AWS prints colon-separated hex (`0a:1b:...`); moto prints it in decimal: both are read.
 */
export function normalizeSerial(serial: string): string {
  const hex = /^\d+$/.test(serial) && !serial.includes(':') ? BigInt(serial).toString(16) : serial.replace(/:/g, '').toLowerCase();
  const even = hex.length % 2 === 1 ? `0${hex}` : hex;
  return even.replace(/^(00)+(?=.)/, '');
}

export class AcmCertificates {
  constructor(private readonly clients: Pick<AwsTrustClients, 'acm'>) {}

  async import(target: AcmCertificateTarget, certificatePem: string, privateKeyPem: string, chainPem: string): Promise<void> {
    const { sdk, client } = await this.clients.acm(target.region);
    const encoder = new TextEncoder();
    await onTarget(this.where(target), () =>
      client.send(
        new sdk.ImportCertificateCommand({
          CertificateArn: target.certificateArn,
          Certificate: encoder.encode(certificatePem),
          PrivateKey: encoder.encode(privateKeyPem),
          ...(chainPem === '' ? {} : { CertificateChain: encoder.encode(chainPem) }),
        }),
      ),
    );
  }

  async readBack(target: AcmCertificateTarget): Promise<AcmReadBack> {
    const { sdk, client } = await this.clients.acm(target.region);
    const where = this.where(target);
    const described = await onTarget(where, () => client.send(new sdk.DescribeCertificateCommand({ CertificateArn: target.certificateArn })));
    const got = await onTarget(where, () => client.send(new sdk.GetCertificateCommand({ CertificateArn: target.certificateArn })));
    return {
      serialHex: normalizeSerial(described.Certificate?.Serial ?? ''),
      keyAlgorithm: described.Certificate?.KeyAlgorithm,
      certificatePem: got.Certificate,
    };
  }

  private where(target: AcmCertificateTarget): TargetName {
    return { service: 'ACM certificate', target: target.certificateArn.split('/')[1] ?? target.certificateArn, region: target.region };
  }
}
