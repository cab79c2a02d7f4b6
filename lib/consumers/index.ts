/**
 * The consumer kinds, one folder each, all behind the Consumer port of lib/ports.ts. A composition
 * root registers the kinds it has; adding a kind is a folder here and one line there.
 */
import type { ConsumerRegistry } from '../ports.js';

export { eksConsumers } from './eks/consumer.js';
export { secretConsumers } from './secrets/consumer.js';
export { elbv2TrustStoreConsumers } from './elbv2-trust-store/consumer.js';
export { apiGatewayDomainConsumers } from './api-gateway-domain/consumer.js';
export { acmCertificateConsumers } from './acm-certificate/consumer.js';
export { awsTrustConsumers } from './aws-trust.js';

/** Every consumer of an authority, kind after kind, in the order the kinds are given. */
export function consumerRegistry(...kinds: readonly ConsumerRegistry[]): ConsumerRegistry {
  return (authority, run) => kinds.flatMap((kind) => kind(authority, run));
}
