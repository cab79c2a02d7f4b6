/**
 * The API Gateway mutual TLS consumer kind: each of an authority's `consumers.apiGatewayDomains`
 * verifies clients against its bundle, written to a versioned S3 object and pinned with
 * UpdateDomainName's truststoreVersion, through lib/aws/api-gateway-domain.ts. It holds a bundle
 * when the domain is AVAILABLE, pinned to our object, and that version holds exactly its
 * certificates (compared as DER, StoreReads.storedFormOf: an object re-encoded by whoever wrote it
 * still counts, an extra or missing CA does not); a
 * domain reporting truststore warnings is refused (ConsumerRejectedError, the warnings as its
 * findings, so status and events show them) and its authority's gates wait.
 */
import { truststoreUri, type ApiGatewayDomains } from '../../aws/api-gateway-domain.js';
import type { ApiGatewayDomainTarget } from '../../config/aws-trust-targets.js';
import type { AuthorityConfig } from '../../config/index.js';
import { ConsumerRejectedError, type Consumer, type ConsumerRun } from '../../ports.js';
import { bundleOnlyConsumer } from '../bundle-only.js';

export const API_GATEWAY_DOMAIN_PREFIX = 'api-gateway-domain:';

export function apiGatewayDomainConsumer(target: ApiGatewayDomainTarget, domains: ApiGatewayDomains, run: ConsumerRun): Consumer {
  const name = `API Gateway domain ${target.domainName} (${target.region}, ${truststoreUri(target)})`;
  return bundleOnlyConsumer(
    `${API_GATEWAY_DOMAIN_PREFIX}${target.region}/${target.domainName}`,
    name,
    { region: target.region, domainName: target.domainName },
    async () => {
      const read = await domains.readBack(target);
      if (read.warnings.length > 0) {
        const count = `${read.warnings.length} truststore warning${read.warnings.length === 1 ? '' : 's'}`;
        throw new ConsumerRejectedError(target.domainName, 400, 'TruststoreWarnings', `${name} reports ${count}`, { label: 'truststore warnings', items: read.warnings });
      }
      return read.status !== 'AVAILABLE' || read.bundle === undefined ? undefined : { 'ca.crt': run.reads.storedFormOf(read.bundle) ?? read.bundle };
    },
    (pem) => domains.publish(target, pem),
  );
}

export function apiGatewayDomainConsumers(domains: ApiGatewayDomains | undefined): (authority: AuthorityConfig, run: ConsumerRun) => Consumer[] {
  return (authority, run) => (domains === undefined ? [] : (authority.consumers?.apiGatewayDomains ?? []).map((target) => apiGatewayDomainConsumer(target, domains, run)));
}
