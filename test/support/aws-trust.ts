/**
 * A `cluster` authority fronted by the local AWS trust endpoints (an ELBv2 trust store, an API
 * Gateway domain and an ACM certificate serving leaf `web`), an `etcd` authority with none, on a
 * clock the test moves; what each target serves, and real handshakes through the load balancer.
 */
import { X509Certificate } from 'node:crypto';
import { parseConfig, type CertrotateConfig } from '../../lib/config/index.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import type { LocalAwsTrust } from '../../lib/local/aws-trust.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { mutualTlsHandshake, type HandshakeResult } from '../../lib/local/handshake.js';
import { CaDirectory, parseCertificate } from '../../lib/pki/index.js';
import { T0 } from './pki.js';

export const MINUTE = 60_000;
export const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:000000000000:certificate/12345678-1234-1234-1234-123456789012';
export const TRUST_STORE = 'clients';
export const DOMAIN = 'api.example.com';

/** `cluster` has one trust store, one API Gateway domain and one ACM certificate; `etcd` has none. */
export function awsTrustConfig(acm: Readonly<Record<string, string>> = { certificateArn: CERTIFICATE_ARN }): CertrotateConfig {
  return parseConfig({
    authorities: [
      {
        name: 'cluster',
        caLifetimeDays: 180,
        rotationLeadDays: 30,
        soakHours: { trustExpanded: 1, leavesMigrated: 1 },
        consumers: {
          elbv2TrustStores: [{ region: 'us-east-1', bucket: 'pki-bundles', key: 'cluster/alb.pem', createTrustStore: TRUST_STORE }],
          apiGatewayDomains: [{ region: 'us-east-1', bucket: 'pki-bundles', key: 'cluster/api.pem', domainName: DOMAIN }],
          acmCertificates: [{ region: 'us-east-1', leaf: 'web', ...acm }],
        },
      },
      { name: 'etcd', caLifetimeDays: 180, rotationLeadDays: 30, soakHours: { trustExpanded: 1, leavesMigrated: 1 } },
    ],
    leaves: [
      { authority: 'cluster', id: 'web', subject: 'CN=web', dnsNames: ['web.example.com'], usage: 'server', lifetimeDays: 30 },
      { authority: 'cluster', id: 'client', subject: 'CN=client', usage: 'client', lifetimeDays: 30 },
      { authority: 'etcd', id: 'etcd-0', subject: 'CN=etcd-0', dnsNames: ['etcd-0.local'], usage: 'both', lifetimeDays: 30 },
    ],
  });
}

export class AwsTrustSite {
  #arn: string | undefined;

  private constructor(
    /** The clock of the run and of the endpoints' propagation. */
    private readonly clock: { now: number },
    readonly local: LocalEnvironment,
    readonly aws: LocalAwsTrust,
    readonly cfg: CertrotateConfig,
    readonly deps: EngineDeps,
  ) {}

  /**
   * Starts the endpoints (changes served after `propagationMs`, PEM handed back through
   * `encodePem`) and provisions what an operator would have.
   */
  static async start(propagationMs: number, options: { encodePem?: (pem: string) => string; cfg?: CertrotateConfig } = {}): Promise<AwsTrustSite> {
    const clock = { now: T0 };
    const { encodePem } = options;
    const local = await startLocalEnvironment({ awsTrust: { now: () => clock.now, propagationMs, ...(encodePem === undefined ? {} : { encodePem }) } });
    const aws = local.awsTrust;
    if (aws === undefined) throw new Error('no local AWS trust endpoints');
    const cfg = options.cfg ?? awsTrustConfig();
    await aws.provision(cfg);
    return new AwsTrustSite(clock, local, aws, cfg, local.deps(cfg));
  }

  get now(): number {
    return this.clock.now;
  }

  set now(at: number) {
    this.clock.now = at;
  }

  stop(): Promise<void> {
    return this.local.stop();
  }

  /** One scan of `authorities` (default `cluster`) at the site's clock; the first report. */
  async run(owner: string, options: { mode?: 'scan' | 'reconcile'; authorities?: string[] } = {}): Promise<AuthorityReport> {
    const [report] = await tick(this.deps, { now: this.now, owner, mode: options.mode ?? 'scan', authorities: options.authorities ?? ['cluster'] });
    if (report === undefined) throw new Error('no report');
    return report;
  }

  /** The CA generations in a PEM bundle of `cluster`. */
  async generationsOf(pem: string | undefined): Promise<number[] | undefined> {
    return pem === undefined ? undefined : (await this.#directory()).generationsIn(pem);
  }

  async #directory(): Promise<CaDirectory> {
    const cas = [];
    for (const generation of await this.local.certificates.listCaGenerations('cluster')) {
      const stored = await this.local.certificates.readCa('cluster', generation);
      if (stored !== undefined) cas.push({ generation, certificate: parseCertificate(stored.certificatePem) });
    }
    return new CaDirectory(cas);
  }

  async trustStoreArn(): Promise<string> {
    if (this.#arn !== undefined) return this.#arn;
    const { sdk, client } = await this.aws.adapters.clients.elbv2(this.aws.region);
    const found = await client.send(new sdk.DescribeTrustStoresCommand({ Names: [TRUST_STORE] }));
    this.#arn = found.TrustStores?.[0]?.TrustStoreArn ?? '';
    return this.#arn;
  }

  /** What each AWS target serves now, as generations (and whether ACM serves the `web` leaf secret's certificate). */
  async served(): Promise<{ trustStore: number[] | undefined; domain: number[] | undefined; acmIsWebLeaf: boolean }> {
    const acm = this.aws.acm.served(CERTIFICATE_ARN);
    const { leaves } = await this.local.certificates.readLeaves('cluster', ['web']);
    return {
      trustStore: await this.generationsOf(this.aws.elbv2.servedBundle(await this.trustStoreArn())),
      domain: await this.generationsOf(this.aws.apiGateway.servedTruststore(DOMAIN)?.content),
      acmIsWebLeaf: acm !== undefined && leaves[0] !== undefined && new X509Certificate(acm.certificate).serialNumber === new X509Certificate(leaves[0].certificatePem).serialNumber,
    };
  }

  /**
   * A real mutual-TLS handshake through the load balancer (or the API Gateway domain), judged at
   * the site's clock: it serves what ACM holds and verifies the client against the bundle the trust
   * store (truststore) applies now; the client presents the `client` leaf secret and verifies the
   * server with its `ca.crt`.
   */
  async handshakeThrough(front: 'load balancer' | 'domain'): Promise<HandshakeResult & { clientGeneration: number | undefined }> {
    const acm = this.aws.acm.served(CERTIFICATE_ARN);
    const bundle = front === 'domain' ? this.aws.apiGateway.servedTruststore(DOMAIN)?.content : this.aws.elbv2.servedBundle(await this.trustStoreArn());
    const { leaves } = await this.local.certificates.readLeaves('cluster', ['client']);
    const client = leaves[0];
    if (acm === undefined || bundle === undefined || client === undefined) throw new Error(`the ${front} or its client is not set up yet`);
    const clientGeneration = (await this.#directory()).examineLeaf(client.certificatePem, client.privateKeyPem).generation;
    const server = { certificatePem: `${acm.certificate}${acm.chain ?? ''}`, privateKeyPem: acm.privateKey, bundlePem: bundle };
    const result = await mutualTlsHandshake(server, client, { at: this.now, serverName: 'web.example.com' });
    return { ...result, clientGeneration };
  }
}
