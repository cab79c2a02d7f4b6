/**
 * Finds the ACM certificate certrotate created for a `createCertificate` target by its tags: the
 * durable record of its ARN, on the certificate itself (as lib/aws/kms-ca-keys.ts finds a key a
 * dead run made). ListCertificates (every key type: by default ACM lists RSA_1024 and RSA_2048
 * only), narrowed to imported certificates, then ListTagsForCertificate on each. Of those carrying
 * all of the target's tags, the target's is, for every run alike: one in use (a listener was
 * pointed at it: never switch away from it), else the oldest by its `certrotate:created` tag (ACM's
 * ImportedAt moves with every re-import), then by ARN. A run that creates one, or is about to
 * write, deletes the others nothing uses (duplicates of a race). A found ARN is kept for the life
 * of the process, forgotten when ACM no longer knows it.
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
  /** Targets whose duplicates this process has looked for once already (on its first write). */
  readonly #tidied = new Set<string>();

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

  /**
   * The target's certificate, or undefined when none was created yet. With `tidy` (a run about to
   * write), other certificates carrying its tags that nothing uses are deleted: duplicates a race
   * left (two runs whose lists each missed the other's), once per process even when the ARN is
   * remembered from a read.
   */
  async find(target: AcmCertificateTarget, options: { tidy?: boolean } = {}): Promise<string | undefined> {
    const key = certificateKey(target);
    const tidy = options.tidy === true && !this.#tidied.has(key);
    const known = this.#found.get(key);
    if (known !== undefined && !tidy) return known;
    const winner = await this.#resolve(target, undefined, tidy);
    if (tidy) this.#tidied.add(key);
    if (winner !== undefined) this.#found.set(key, winner);
    return winner;
  }

  /** After ACM answered that the remembered certificate does not exist (deleted by hand): look it up again next time. */
  forget(target: AcmCertificateTarget): void {
    this.#found.delete(certificateKey(target));
  }

  /**
   * After this run created `created`: the target's certificate. When another tagged one is
   * preferred (a racing run made it, or one is in use), that one, and `created` is deleted (nothing
   * can use it yet: no one was ever told its ARN).
   */
  async settle(target: AcmCertificateTarget, created: string): Promise<string> {
    const winner = (await this.#resolve(target, created, true)) ?? created;
    this.#found.set(certificateKey(target), winner);
    return winner;
  }

  /** The preferred tagged certificate (or `own` when none is listed yet); with `tidy`, deletes the unused others. */
  async #resolve(target: AcmCertificateTarget, own: string | undefined, tidy: boolean): Promise<string | undefined> {
    const matches = await this.#tagged(target);
    // ListCertificates may not show a certificate of the last moments: then ours stands for now,
    // and the next lookup picks by the same order.
    const winner = matches[0]?.arn ?? own;
    if (!tidy) return winner;
    const losers = matches.slice(1).filter((match) => !match.inUse).map((match) => match.arn);
    if (own !== undefined && own !== winner && !losers.includes(own)) losers.push(own);
    for (const arn of losers) await this.#deleteUnused(target, arn);
    return winner;
  }

  /** Deletes a duplicate; one that turned out to be in use or gone already is left alone. */
  async #deleteUnused(target: AcmCertificateTarget, arn: string): Promise<void> {
    const { sdk, client } = await this.clients.acm(target.region);
    try {
      await client.send(new sdk.DeleteCertificateCommand({ CertificateArn: arn }));
    } catch (error) {
      if (error instanceof Error && (error.name === 'ResourceInUseException' || error.name === 'ResourceNotFoundException')) return;
      throw targetFailure(error, this.#where(target, arn));
    }
  }

  /** The certificates carrying all of the target's tags, preferred first. */
  async #tagged(target: AcmCertificateTarget): Promise<Candidate[]> {
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
    return matches.sort(byPreference);
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
