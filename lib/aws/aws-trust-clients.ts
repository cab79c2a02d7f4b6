/**
 * The SDK clients of the AWS trust targets (S3, ELBv2, API Gateway, ACM), one per service and
 * region, created on first use and loaded with import(): a deployment without such targets never
 * loads them, and the Lambda bundles leave them out (infra/bundling.ts; the runtime's SDK provides
 * them). With `endpoints` (local endpoints, moto), every region's client points there; S3 is
 * addressed path-style then.
 */
import type * as AcmSdk from '@aws-sdk/client-acm';
import type { ACMClient } from '@aws-sdk/client-acm';
import type * as ApiGatewaySdk from '@aws-sdk/client-api-gateway';
import type { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import type * as Elbv2Sdk from '@aws-sdk/client-elastic-load-balancing-v2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type * as S3Sdk from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';

export type S3Module = typeof S3Sdk;
export type Elbv2Module = typeof Elbv2Sdk;
export type ApiGatewayModule = typeof ApiGatewaySdk;
export type AcmModule = typeof AcmSdk;

export interface AwsTrustClientOptions {
  credentials?: { accessKeyId: string; secretAccessKey: string };
  endpoints?: { s3?: string; elbv2?: string; apiGateway?: string; acm?: string };
  /** Attempts per call (default 3): a target that stays down is waited for by its gates, not by this run. */
  maxAttempts?: number;
  /** Per-attempt limit (default 10 s). */
  requestTimeoutMs?: number;
}

/** A client and its module (for the command classes), for one region. */
export interface Loaded<M, C> {
  sdk: M;
  client: C;
}

export interface AwsTrustClients {
  s3(region: string): Promise<Loaded<S3Module, S3Client>>;
  elbv2(region: string): Promise<Loaded<Elbv2Module, ElasticLoadBalancingV2Client>>;
  apiGateway(region: string): Promise<Loaded<ApiGatewayModule, APIGatewayClient>>;
  acm(region: string): Promise<Loaded<AcmModule, ACMClient>>;
  destroy(): void;
}

interface Destroyable {
  destroy(): void;
}

export function createAwsTrustClients(options: AwsTrustClientOptions = {}): AwsTrustClients {
  const made = new Map<string, Promise<Loaded<unknown, Destroyable>>>();
  const base = (region: string, endpoint: string | undefined) => ({
    region,
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: 3_000, requestTimeout: options.requestTimeoutMs ?? 10_000, throwOnRequestTimeout: true },
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(endpoint === undefined ? {} : { endpoint }),
  });
  function cached<M, C extends Destroyable>(service: string, region: string, create: () => Promise<Loaded<M, C>>): Promise<Loaded<M, C>> {
    const key = `${service}/${region}`;
    let loaded = made.get(key) as Promise<Loaded<M, C>> | undefined;
    if (loaded === undefined) {
      loaded = create();
      made.set(key, loaded);
    }
    return loaded;
  }
  const endpoints = options.endpoints ?? {};
  return {
    s3: (region) =>
      cached('s3', region, async () => {
        const sdk = await import('@aws-sdk/client-s3');
        return { sdk, client: new sdk.S3Client({ ...base(region, endpoints.s3), forcePathStyle: endpoints.s3 !== undefined }) };
      }),
    elbv2: (region) =>
      cached('elbv2', region, async () => {
        const sdk = await import('@aws-sdk/client-elastic-load-balancing-v2');
        return { sdk, client: new sdk.ElasticLoadBalancingV2Client(base(region, endpoints.elbv2)) };
      }),
    apiGateway: (region) =>
      cached('apigateway', region, async () => {
        const sdk = await import('@aws-sdk/client-api-gateway');
        return { sdk, client: new sdk.APIGatewayClient(base(region, endpoints.apiGateway)) };
      }),
    acm: (region) =>
      cached('acm', region, async () => {
        const sdk = await import('@aws-sdk/client-acm');
        return { sdk, client: new sdk.ACMClient(base(region, endpoints.acm)) };
      }),
    destroy() {
      for (const loaded of made.values()) void loaded.then(({ client }) => client.destroy(), () => undefined);
      made.clear();
    },
  };
}
