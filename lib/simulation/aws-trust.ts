/**
 * The simulation's load balancer and API Gateway domain in front of one `cluster` service: local
 * ELBv2, API Gateway, ACM and S3 endpoints (lib/local/aws-trust.ts) as consumers of `cluster`, and
 * real mutual-TLS handshakes through them. The terminator serves the certificate the local ACM
 * holds (the imported `cluster` server leaf) and verifies clients against exactly what the local
 * trust store (or domain truststore) has applied, after its propagation delay. Its clients (a
 * `cluster` client leaf, verifying the terminator with its own ca.crt) handshake at the start, at
 * every transition and on every change of either side; the trust store is unreachable during the
 * simulation's outage.
 */
import type { CertrotateConfig } from '../config/index.js';
import type { LocalAwsTrust } from '../local/aws-trust.js';
import type { Consumer, ConsumerRegistry, StoredLeaf } from '../ports.js';
import { generationOf, splitBundle } from '../pki/index.js';
import type { TrafficThreads } from './traffic.js';

export const TRUST_STORE = 'cluster-clients';
const DOMAIN = 'api.cluster.example.com';
const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:000000000000:certificate/00000000-0000-4000-8000-00000000c1a5';
/** How long a trust store or truststore change takes to be served. */
export const PROPAGATION_MS = 20 * 60_000;

export interface TargetCounts {
  targets: number;
  handshakes: number;
  failedHandshakes: number;
}

export type ConsumerCounts = Record<'elbv2TrustStore' | 'apiGatewayDomain' | 'acmCertificate', TargetCounts>;

/** `cluster` with one trust store, one domain and its server leaf in ACM. */
export function withAwsTrustTargets(config: CertrotateConfig): CertrotateConfig {
  const authority = config.authorities.find((candidate) => candidate.name === 'cluster');
  const server = config.leaves.find((leaf) => leaf.authority === 'cluster' && leaf.usage !== 'client' && leaf.algorithm === authority?.algorithm);
  if (authority === undefined || server === undefined) return config;
  const base = { authority: 'cluster', region: 'us-east-1', bucket: 'cluster-trust-bundles' };
  return {
    ...config,
    authorities: config.authorities.map((candidate) =>
      candidate !== authority
        ? candidate
        : {
            ...candidate,
            consumers: {
              eks: candidate.consumers?.eks ?? [],
              elbv2TrustStores: [{ ...base, key: 'alb.pem', trustStore: { create: TRUST_STORE } }],
              apiGatewayDomains: [{ ...base, key: 'api.pem', domainName: DOMAIN }],
              acmCertificates: [{ authority: 'cluster', region: 'us-east-1', leaf: server.id, certificate: { arn: CERTIFICATE_ARN } }],
            },
          },
    ),
  };
}

export class AwsTrustSite {
  readonly counts: ConsumerCounts = {
    elbv2TrustStore: { targets: 1, handshakes: 0, failedHandshakes: 0 },
    apiGatewayDomain: { targets: 1, handshakes: 0, failedHandshakes: 0 },
    acmCertificate: { targets: 1, handshakes: 0, failedHandshakes: 0 },
  };
  readonly #last = new Map<string, string>();
  /** The broken deployment's claims, by trust store consumer: what it really got, and the bundle read-backs report instead. */
  readonly #claims = new Map<string, { written: string; pem: string }>();
  #arn: string | undefined;
  #transitioned = false;

  constructor(
    private readonly aws: LocalAwsTrust,
    private readonly traffic: TrafficThreads,
    private readonly fail: (message: string) => (at: number) => void,
    /** The `cluster` client leaf the fronts' clients present. */
    readonly clientId: string,
  ) {}

  async #trustStoreArn(): Promise<string | undefined> {
    if (this.#arn !== undefined) return this.#arn;
    const { sdk, client } = await this.aws.adapters.clients.elbv2(this.aws.region);
    const found = await client.send(new sdk.DescribeTrustStoresCommand({ Names: [TRUST_STORE] })).catch(() => undefined);
    this.#arn = found?.TrustStores?.[0]?.TrustStoreArn;
    return this.#arn;
  }

  /**
   * The broken deployment's trust stores: they get the newest CA alone, while read-backs report
   * the bundle certrotate wrote, so the trust store gate is skipped.
   */
  droppingOldCaTrustStores(registry: ConsumerRegistry): ConsumerRegistry {
    return (authority, run) =>
      registry(authority, run).map((consumer): Consumer => {
        if (!consumer.id.startsWith('elbv2-trust-store:')) return consumer;
        return {
          ...consumer,
          readBack: async () => {
            const held = await consumer.readBack();
            const claim = this.#claims.get(consumer.id);
            return claim !== undefined && held?.['ca.crt'] === claim.written ? { 'ca.crt': claim.pem } : held;
          },
          publishBundle: (pem, generations) => {
            const newest = splitBundle(pem).reduce((best, candidate) => ((generationOf(candidate) ?? 0) > (generationOf(best) ?? 0) ? candidate : best));
            this.#claims.set(consumer.id, { written: newest.pem, pem });
            return consumer.publishBundle(newest.pem, generations);
          },
        };
      });
  }

  /** `cluster` made a transition: the next check handshakes whatever changed or not. */
  transitioned(): void {
    this.#transitioned = true;
  }

  /**
   * Handshakes through the load balancer and the domain with `client`, at the first slot and after a
   * transition, or when anything either side presents or verifies against changed. Returns the
   * verdicts' promise for the caller to track.
   */
  async check(client: StoredLeaf | undefined, now: number, first: boolean): Promise<Promise<void>[]> {
    const force = first || this.#transitioned;
    this.#transitioned = false;
    const served = this.aws.acm.served(CERTIFICATE_ARN);
    const arn = await this.#trustStoreArn();
    const fronts = [
      { kind: 'elbv2TrustStore' as const, bundle: arn === undefined ? undefined : this.aws.elbv2.servedBundle(arn) },
      { kind: 'apiGatewayDomain' as const, bundle: this.aws.apiGateway.servedTruststore(DOMAIN)?.content },
    ];
    const verdicts: Promise<void>[] = [];
    if (served === undefined || client === undefined) return verdicts;
    const server = { certificatePem: `${served.certificate}${served.chain ?? ''}`, privateKeyPem: served.privateKey };
    for (const front of fronts) {
      if (front.bundle === undefined) continue;
      const key = `${server.certificatePem}|${front.bundle}|${client.certificatePem}|${client.bundlePem}`;
      if (!force && this.#last.get(front.kind) === key) continue;
      this.#last.set(front.kind, key);
      this.counts[front.kind].handshakes++;
      this.counts.acmCertificate.handshakes++;
      const report = this.fail(`${client.id} -> ${front.kind === 'elbv2TrustStore' ? `load balancer (trust store ${TRUST_STORE})` : `API Gateway domain ${DOMAIN}`}`);
      verdicts.push(
        this.traffic.handshake({ ...server, bundlePem: front.bundle }, client, now).then((result) => {
          if (result.ok) return;
          // Every handshake through either front presents the ACM certificate: it counts for both.
          this.counts[front.kind].failedHandshakes++;
          this.counts.acmCertificate.failedHandshakes++;
          report(now);
        }),
      );
    }
    return verdicts;
  }
}
