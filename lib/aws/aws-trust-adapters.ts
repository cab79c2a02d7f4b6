/**
 * The adapters of the AWS trust consumer kinds (ELBv2 trust stores, API Gateway domains, ACM
 * certificates) over one set of lazily created clients, for the composition roots; undefined when
 * the configuration names no such target, so no client is ever created or loaded.
 */
import type { CertrotateConfig } from '../config/index.js';
import { AcmCertificates } from './acm-certificate.js';
import { ApiGatewayDomains } from './api-gateway-domain.js';
import { createAwsTrustClients, type AwsTrustClientOptions, type AwsTrustClients } from './aws-trust-clients.js';
import { Elbv2TrustStores } from './elbv2-trust-store.js';
import { S3BundleObjects } from './s3-bundle-objects.js';

export interface AwsTrustAdapters {
  clients: AwsTrustClients;
  trustStores: Elbv2TrustStores;
  domains: ApiGatewayDomains;
  certificates: AcmCertificates;
}

export function hasAwsTrustTargets(config: Pick<CertrotateConfig, 'authorities'>): boolean {
  return config.authorities.some(({ consumers }) =>
    (consumers?.elbv2TrustStores?.length ?? 0) + (consumers?.apiGatewayDomains?.length ?? 0) + (consumers?.acmCertificates?.length ?? 0) > 0,
  );
}

/** `deployment`: the deployment's prefix (secretPrefix), tagged on every ACM certificate certrotate creates. */
export function awsTrustAdapters(options: AwsTrustClientOptions, deployment = 'certrotate'): AwsTrustAdapters {
  const clients = createAwsTrustClients(options);
  const objects = new S3BundleObjects(clients);
  return { clients, trustStores: new Elbv2TrustStores(clients, objects), domains: new ApiGatewayDomains(clients, objects), certificates: new AcmCertificates(clients, deployment) };
}

/** The adapters when the configuration has AWS trust targets. */
export function awsTrustAdaptersFor(config: Pick<CertrotateConfig, 'authorities'>, options: AwsTrustClientOptions, deployment = 'certrotate'): AwsTrustAdapters | undefined {
  return hasAwsTrustTargets(config) ? awsTrustAdapters(options, deployment) : undefined;
}
