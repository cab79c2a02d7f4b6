/**
 * A server leaf as an imported ACM certificate: `ImportCertificate` on its ARN (a re-import keeps
 * every listener, distribution and custom domain association), with the CA chain. Read back with
 * `GetCertificate` alone: the PEM it returns carries the serial too (DescribeCertificate would
 * only repeat it, at a second call per read-back).
 *
 * A target configured with `createCertificate` has no ARN until its first publish: it is imported
 * without one, with certrotate's tags (deployment, authority, name: ACM_CERTIFICATE_TAGS), and
 * found again by them (lib/aws/acm-certificate-finder.ts). Exactly one certificate per target, with
 * crashes and racing runs:
 * 1. Found by its tags (one in use, else the oldest, when there are several): re-imported onto it.
 * 2. None: imported new with the tags, then looked up again. A run that lost a race (another
 *    tagged certificate is preferred) re-imports onto the winner and deletes its own, which nothing
 *    uses; a run about to write deletes the unused duplicates it finds (two racing runs whose
 *    lists each missed the other's).
 * A run that crashed after ImportCertificate returned left a tagged certificate: step 1 finds it.
 */
import { X509Certificate } from 'node:crypto';
import type { AcmCertificateTarget } from '../config/aws-trust-targets.js';
import { ConsumerRejectedError } from '../ports.js';
import { AcmCertificateFinder } from './acm-certificate-finder.js';
import type { AwsTrustClients } from './aws-trust-clients.js';
import { onTarget, type TargetName } from './aws-target-errors.js';

export interface AcmReadBack {
  /** The served certificate's serial, lowercase hex without leading zero bytes; empty when there is none (or it does not parse). */
  serialHex: string;
  certificatePem: string | undefined;
  /** The ARN read; undefined for a certificate certrotate has not created yet. */
  arn: string | undefined;
}

/** One PEM certificate block (with its line end, when it has one). */
export const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g;

/** The first certificate of a PEM, parsed; undefined when there is none or it is not one. */
export function firstCertificate(pem: string | undefined): X509Certificate | undefined {
  const first = pem?.match(PEM_BLOCK)?.[0];
  if (first === undefined) return undefined;
  try {
    return new X509Certificate(first);
  } catch {
    return undefined;
  }
}

/** The serial of a PEM's first certificate as lowercase hex without leading zero bytes; empty when it holds none. */
export function serialHexOf(pem: string | undefined): string {
  const hex = firstCertificate(pem)?.serialNumber.toLowerCase() ?? '';
  return (hex.length % 2 === 1 ? `0${hex}` : hex).replace(/^(00)+(?=.)/, '');
}

export class AcmCertificates {
  readonly #finder: AcmCertificateFinder;

  /** `deployment`: the deployment's prefix, tagged on every certificate it creates. */
  constructor(
    private readonly clients: Pick<AwsTrustClients, 'acm'>,
    deployment = 'certrotate',
  ) {
    this.#finder = new AcmCertificateFinder(clients, deployment);
  }

  /** The target's ARN: configured, or the certificate certrotate created for it; undefined when none exists yet. */
  arnOf(target: AcmCertificateTarget): Promise<string | undefined> {
    return 'arn' in target.certificate ? Promise.resolve(target.certificate.arn) : this.#finder.find(target);
  }

  /** Runs a call on a created certificate's remembered ARN, forgetting the ARN when ACM no longer knows it. */
  async #onFound<T>(target: AcmCertificateTarget, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ConsumerRejectedError && error.reason === 'ResourceNotFoundException') this.#finder.forget(target);
      throw error;
    }
  }

  /** Imports onto the target's ARN (creating the certificate first when asked to); returns that ARN. */
  async import(target: AcmCertificateTarget, certificatePem: string, privateKeyPem: string, chainPem: string): Promise<string> {
    const arn = 'arn' in target.certificate ? target.certificate.arn : await this.#finder.find(target, { tidy: true });
    if (arn !== undefined) {
      await this.#import(target, arn, certificatePem, privateKeyPem, chainPem);
      return arn;
    }
    const created = await this.#import(target, undefined, certificatePem, privateKeyPem, chainPem);
    const winner = await this.#finder.settle(target, created);
    if (winner !== created) await this.#import(target, winner, certificatePem, privateKeyPem, chainPem);
    return winner;
  }

  async readBack(target: AcmCertificateTarget): Promise<AcmReadBack> {
    const arn = await this.arnOf(target);
    if (arn === undefined) return { serialHex: '', certificatePem: undefined, arn: undefined };
    const { sdk, client } = await this.clients.acm(target.region);
    const got = await this.#onFound(target, () => onTarget(this.#where(target, arn), () => client.send(new sdk.GetCertificateCommand({ CertificateArn: arn }))));
    return { serialHex: serialHexOf(got.Certificate), certificatePem: got.Certificate, arn };
  }

  async #import(target: AcmCertificateTarget, arn: string | undefined, certificatePem: string, privateKeyPem: string, chainPem: string): Promise<string> {
    const { sdk, client } = await this.clients.acm(target.region);
    const encoder = new TextEncoder();
    const answer = await this.#onFound(target, () => onTarget(this.#where(target, arn), () =>
      client.send(
        new sdk.ImportCertificateCommand({
          Certificate: encoder.encode(certificatePem),
          PrivateKey: encoder.encode(privateKeyPem),
          ...(chainPem === '' ? {} : { CertificateChain: encoder.encode(chainPem) }),
          // ACM takes tags only when it creates the certificate, never on re-import.
          ...(arn === undefined ? { Tags: this.#finder.tagsOf(target, new Date()) } : { CertificateArn: arn }),
        }),
      ),
    ));
    return answer.CertificateArn ?? arn ?? '';
  }

  #where(target: AcmCertificateTarget, arn: string | undefined): TargetName {
    const name = arn === undefined ? ('create' in target.certificate ? `"${target.certificate.create}" (to create)` : '?') : (arn.split('/')[1] ?? arn);
    return { service: 'ACM certificate', target: name, region: target.region };
  }
}
