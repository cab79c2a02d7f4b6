/** The three AWS trust kinds registered together, for a composition root that has their adapters. */
import type { AwsTrustAdapters } from '../aws/aws-trust-adapters.js';
import type { ConsumerRegistry } from '../ports.js';
import { acmCertificateConsumers } from './acm-certificate/consumer.js';
import { apiGatewayDomainConsumers } from './api-gateway-domain/consumer.js';
import { elbv2TrustStoreConsumers } from './elbv2-trust-store/consumer.js';

export function awsTrustConsumers(adapters: AwsTrustAdapters | undefined): ConsumerRegistry {
  const trustStores = elbv2TrustStoreConsumers(adapters?.trustStores);
  const domains = apiGatewayDomainConsumers(adapters?.domains);
  const certificates = acmCertificateConsumers(adapters?.certificates);
  return (authority, run) => [...trustStores(authority, run), ...domains(authority, run), ...certificates(authority, run)];
}
