/**
 * Finds the ACM certificate certrotate created for a `createCertificate` target by its tags: the
 * durable record of its ARN, on the certificate itself (as lib/aws/kms-ca-keys.ts finds a key a
 * dead run made). ListCertificates (every key type: by default ACM lists RSA_1024 and RSA_2048
 * only), narrowed to imported certificates, then ListTagsForCertificate on each. Of those carrying
 * all of the target's tags, the target's is, for every run alike: one in use (a listener was
 * pointed at it: never switch away from it), else the oldest by its `certrotate:created` tag (ACM's
 * ImportedAt moves with every re-import), then by ARN. A run that made a newer one (it raced
 * another) deletes its own. A found ARN is kept for the life of the process, forgotten when ACM no
 * longer knows it.
 */
import type { CertificateSummary, KeyAlgorithm, Tag } from '@aws-sdk/client-acm';
import { ACM_CERTIFICATE_KIND, ACM_CERTIFICATE_TAGS, certificateKey, type AcmCertificateTarget } from '../config/aws-trust-targets.js';
import type { AwsTrustClients } from './aws-trust-clients.js';
import { onTarget, targetFailure, type TargetName } from './aws-target-errors.js';

const KEY_TYPES: KeyAlgorithm[] = ['RSA_1024', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'EC_prime256v1', 'EC_secp384r1', 'EC_secp521r1'];

interface Candidate {
  arn: string;
  inUse: boolean;
  created: string;
}

/** In use first, then oldest by the created tag, then by ARN: one order every run agrees on. */
function byPreference(a: Candidate, b: Candidate): number {
  return Number(b.inUse) - Number(a.inUse) || a.created.localeCompare(b.created) || a.arn.localeCompare(b.arn);
}

export class AcmCertificateFinder {
  readonly #found = new Map<string, string>();

  constructor(
    private readonly clients: Pick<AwsTrustClients, 'acm'>,
    private readonly deployment: string,
  ) {}

  /** The tags a certificate created for `target` carries. */
  tagsOf(target: AcmCertificateTarget, createdAt?: Date): Tag[] {
    const name = 'create' in target.certificate ? target.certificate.create : '';
    return [
      ...(createdAt === undefined ? [] : [{ Key: ACM_CERTIFICATE_TAGS.created, Value: createdAt.toISOString() }]),
      { Key: ACM_CERTIFICATE_TAGS.kind, Value: ACM_CERTIFICATE_KIND },
      { Key: ACM_CERTIFICATE_TAGS.prefix, Value: this.deployment },
      { Key: ACM_CERTIFICATE_TAGS.authority, Value: target.authority },
      { Key: ACM_CERTIFICATE_TAGS.target, Value: name },
    ];
  }

  /** The target's certificate, or undefined when none was created yet. */
  async find(target: AcmCertificateTarget): Promise<string | undefined> {
    const known = this.#found.get(certificateKey(target));
    if (known !== undefined) return known;
    const [preferred] = await this.#tagged(target);
    if (preferred !== undefined) this.#found.set(certificateKey(target), preferred);
    return preferred;
  }

  /** After ACM answered that the remembered certificate does not exist (deleted by hand): look it up again next time. */
  forget(target: AcmCertificateTarget): void {
    this.#found.delete(certificateKey(target));
  }

  /**
   * After this run created `created`: the target's certificate. When an older tagged one exists (a
   * racing run made it), that one, and `created` is deleted (nothing can use it yet: no one was
   * ever told its ARN).
   */
  async settle(target: AcmCertificateTarget, created: string): Promise<string> {
    const [preferred] = await this.#tagged(target);
    // ListCertificates may not show a certificate of the last moments: then ours stands for now,
    // and the next run's lookup still picks by the same order.
    const winner = preferred ?? created;
    if (winner !== created) {
      const { sdk, client } = await this.clients.acm(target.region);
      await onTarget(this.#where(target, created), () => client.send(new sdk.DeleteCertificateCommand({ CertificateArn: created })));
    }
    this.#found.set(certificateKey(target), winner);
    return winner;
  }

  /** ARNs of the certificates carrying all of the target's tags, preferred first. */
  async #tagged(target: AcmCertificateTarget): Promise<string[]> {
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
    const wanted = this.tagsOf(target);
    const matches: Candidate[] = [];
    for (const summary of summaries) {
      if (summary.Type !== 'IMPORTED' || summary.CertificateArn === undefined) continue;
      const tags = await this.#tagsOrNone(target, summary.CertificateArn);
      if (!wanted.every((tag) => tags.some((held) => held.Key === tag.Key && held.Value === tag.Value))) continue;
      const created = tags.find((tag) => tag.Key === ACM_CERTIFICATE_TAGS.created)?.Value ?? '';
      matches.push({ arn: summary.CertificateArn, inUse: summary.InUse === true, created });
    }
    return matches.sort(byPreference).map((match) => match.arn);
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
