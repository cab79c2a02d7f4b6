/**
 * Finds the ACM certificate certrotate created for a `createCertificate` target by its tags: the
 * durable record of its ARN, on the certificate itself (as lib/aws/kms-ca-keys.ts finds a key a
 * dead run made). ListCertificates (every key type: by default ACM lists RSA_2048 only) narrowed to
 * imported certificates, oldest first, then ListTagsForCertificate until one carries all of the
 * target's tags. The oldest such certificate is the target's, for every run alike; a run that made
 * a newer one (it raced another) deletes its own. A found ARN is kept for the life of the process.
 */
import type { CertificateSummary, KeyAlgorithm, Tag } from '@aws-sdk/client-acm';
import { ACM_CERTIFICATE_KIND, ACM_CERTIFICATE_TAGS, certificateKey, type AcmCertificateTarget } from '../config/aws-trust-targets.js';
import type { AwsTrustClients } from './aws-trust-clients.js';
import { onTarget, targetFailure, type TargetName } from './aws-target-errors.js';

const KEY_TYPES: KeyAlgorithm[] = ['RSA_1024', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'EC_prime256v1', 'EC_secp384r1', 'EC_secp521r1'];

function createdAt(summary: CertificateSummary): number {
  return summary.CreatedAt?.getTime() ?? summary.ImportedAt?.getTime() ?? Number.MAX_SAFE_INTEGER;
}

export class AcmCertificateFinder {
  readonly #found = new Map<string, string>();

  constructor(
    private readonly clients: Pick<AwsTrustClients, 'acm'>,
    private readonly deployment: string,
  ) {}

  /** The tags a certificate created for `target` carries. */
  tagsOf(target: AcmCertificateTarget): Tag[] {
    const name = 'create' in target.certificate ? target.certificate.create : '';
    return [
      { Key: ACM_CERTIFICATE_TAGS.kind, Value: ACM_CERTIFICATE_KIND },
      { Key: ACM_CERTIFICATE_TAGS.prefix, Value: this.deployment },
      { Key: ACM_CERTIFICATE_TAGS.authority, Value: target.authority },
      { Key: ACM_CERTIFICATE_TAGS.target, Value: name },
    ];
  }

  /** The target's certificate (the oldest carrying its tags), or undefined when none was created yet. */
  async find(target: AcmCertificateTarget): Promise<string | undefined> {
    const known = this.#found.get(certificateKey(target));
    if (known !== undefined) return known;
    const [oldest] = await this.#tagged(target, { all: false });
    if (oldest !== undefined) this.#found.set(certificateKey(target), oldest);
    return oldest;
  }

  /**
   * After this run created `created`: the target's certificate. When an older tagged one exists (a
   * racing run made it), that one, and `created` is deleted (nothing can use it yet: no one was
   * ever told its ARN).
   */
  async settle(target: AcmCertificateTarget, created: string): Promise<string> {
    const [oldest] = await this.#tagged(target, { all: true });
    // ListCertificates may not show a certificate of the last moments: then ours stands for now,
    // and the next run's lookup still picks the oldest.
    const winner = oldest ?? created;
    if (winner !== created) {
      const { sdk, client } = await this.clients.acm(target.region);
      await onTarget(this.#where(target, created), () => client.send(new sdk.DeleteCertificateCommand({ CertificateArn: created })));
    }
    this.#found.set(certificateKey(target), winner);
    return winner;
  }

  /** ARNs of the certificates carrying all of the target's tags, oldest first (only the first unless `all`). */
  async #tagged(target: AcmCertificateTarget, options: { all: boolean }): Promise<string[]> {
    const { sdk, client } = await this.clients.acm(target.region);
    const where = this.#where(target, undefined);
    const summaries: CertificateSummary[] = [];
    let token: string | undefined;
    do {
      const page = await onTarget(where, () =>
        client.send(new sdk.ListCertificatesCommand({ Includes: { keyTypes: KEY_TYPES }, MaxItems: 1000, ...(token === undefined ? {} : { NextToken: token }) })),
      );
      summaries.push(...(page.CertificateSummaryList ?? []));
      token = page.NextToken;
    } while (token !== undefined);
    const candidates = summaries
      .filter((summary) => summary.Type === 'IMPORTED' && summary.CertificateArn !== undefined)
      .sort((a, b) => createdAt(a) - createdAt(b) || (a.CertificateArn ?? '').localeCompare(b.CertificateArn ?? ''));
    const wanted = this.tagsOf(target);
    const matches: string[] = [];
    for (const { CertificateArn: arn = '' } of candidates) {
      const tags = await this.#tagsOrNone(target, arn);
      if (!wanted.every((tag) => tags.some((held) => held.Key === tag.Key && held.Value === tag.Value))) continue;
      matches.push(arn);
      if (!options.all) break;
    }
    return matches;
  }

  /** A certificate's tags; none when it was deleted since it was listed. */
  async #tagsOrNone(target: AcmCertificateTarget, arn: string): Promise<Tag[]> {
    const { sdk, client } = await this.clients.acm(target.region);
    try {
      return (await client.send(new sdk.ListTagsForCertificateCommand({ CertificateArn: arn }))).Tags ?? [];
    } catch (error) {
      if (error instanceof Error && error.name === 'ResourceNotFoundException') return [];
      throw targetFailure(error, this.#where(target, arn));
    }
  }

  #where(target: AcmCertificateTarget, arn: string | undefined): TargetName {
    const name = 'create' in target.certificate ? target.certificate.create : '';
    return { service: 'ACM certificate', target: arn === undefined ? `"${name}" (found by its tags)` : (arn.split('/')[1] ?? arn), region: target.region };
  }
}
