/**
 * An authority's bundle as the mutual TLS truststore of an API Gateway custom domain name (REST
 * and HTTP APIs share them): written as a new version of its S3 object, then `UpdateDomainName`
 * patches `/mutualTlsAuthentication/truststoreUri` and `/truststoreVersion`. Read back with
 * `GetDomainName`: its status, the version it is pinned to, the warnings API Gateway reports for
 * the truststore, and that version's content.
 */
import type { ApiGatewayDomainTarget } from '../config/aws-trust-targets.js';
import type { AwsTrustClients } from './aws-trust-clients.js';
import { onTarget, type TargetName } from './aws-target-errors.js';
import type { S3BundleObjects } from './s3-bundle-objects.js';

export interface DomainReadBack {
  /** AVAILABLE, UPDATING ... */
  status: string;
  truststoreUri: string | undefined;
  truststoreVersion: string | undefined;
  warnings: string[];
  /** The content of the pinned version; undefined when the domain has no truststore at our object. */
  bundle: string | undefined;
}

export function truststoreUri(target: ApiGatewayDomainTarget): string {
  return `s3://${target.bucket}/${target.key}`;
}

export class ApiGatewayDomains {
  constructor(
    private readonly clients: Pick<AwsTrustClients, 'apiGateway'>,
    private readonly objects: S3BundleObjects,
  ) {}

  async publish(target: ApiGatewayDomainTarget, pem: string): Promise<void> {
    const versionId = await this.objects.putIfChanged(target, pem);
    const { sdk, client } = await this.clients.apiGateway(target.region);
    await onTarget(this.where(target), () =>
      client.send(
        new sdk.UpdateDomainNameCommand({
          domainName: target.domainName,
          patchOperations: [
            { op: 'replace', path: '/mutualTlsAuthentication/truststoreUri', value: truststoreUri(target) },
            { op: 'replace', path: '/mutualTlsAuthentication/truststoreVersion', value: versionId },
          ],
        }),
      ),
    );
  }

  async readBack(target: ApiGatewayDomainTarget): Promise<DomainReadBack> {
    const { sdk, client } = await this.clients.apiGateway(target.region);
    const domain = await onTarget(this.where(target), () => client.send(new sdk.GetDomainNameCommand({ domainName: target.domainName })));
    const mtls = domain.mutualTlsAuthentication;
    const version = mtls?.truststoreVersion;
    const ours = mtls?.truststoreUri === truststoreUri(target);
    return {
      status: domain.domainNameStatus ?? 'UNKNOWN',
      truststoreUri: mtls?.truststoreUri,
      truststoreVersion: version,
      warnings: mtls?.truststoreWarnings ?? [],
      bundle: ours && version !== undefined ? await this.objects.get(target, version) : undefined,
    };
  }

  private where(target: ApiGatewayDomainTarget): TargetName {
    return { service: 'API Gateway domain', target: target.domainName, region: target.region };
  }
}
