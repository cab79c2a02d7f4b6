/**
 * Bearer tokens for EKS clusters, made the way `aws eks get-token` makes them: a presigned STS
 * GetCallerIdentity URL carrying the signed header `x-k8s-aws-id: <cluster name>`, encoded as
 * `k8s-aws-v1.` + base64url without padding. The cluster's authenticator replays the URL to STS
 * (sending the header) and learns who signed it. Signing is @smithy/signature-v4's `presign`.
 *
 * STS ignores `X-Amz-Expires` here: a token is good for 15 minutes after its `X-Amz-Date`
 * (aws-iam-authenticator enforces that), and `X-Amz-Expires=60` is what every client sends.
 */
import { sigv4Signer } from './sigv4.js';
import { HttpRequest } from '@smithy/protocol-http';
import { CertrotateError } from '../errors.js';
import type { Clock } from '../ports.js';

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
export const CLUSTER_ID_HEADER = 'x-k8s-aws-id';
/** What `aws eks get-token` and aws-iam-authenticator send; STS does not enforce it. */
export const PRESIGN_EXPIRES_SECONDS = 60;
/** How long the cluster accepts a token after its X-Amz-Date. */
export const EKS_TOKEN_LIFETIME_MS = 15 * 60_000;
/** Cached tokens are replaced this long before they would be refused. */
export const EKS_TOKEN_REFRESH_MARGIN_MS = 60_000;
export const STS_API_VERSION = '2011-06-15';

/** The shape of AWS credentials (compatible with @smithy/types' AwsCredentialIdentity). */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials stop working; a token is never cached past it. */
  expiration?: Date;
}

export type CredentialSource = AwsCredentials | (() => Promise<AwsCredentials>);

export interface EksTokenRequest {
  clusterName: string;
  region: string;
  credentials: AwsCredentials;
  /** The signing instant, epoch ms. */
  now: number;
  /** `https://sts.<region>.amazonaws.com` unless overridden (local STS, VPC endpoint). */
  stsEndpoint?: string;
}

export interface EksToken {
  token: string;
  /** The presigned GetCallerIdentity URL inside the token. */
  url: string;
  /** When the cluster stops accepting it, epoch ms. */
  expiresAt: number;
}

/** The regional STS endpoint, as `aws eks get-token` uses it. */
export function stsEndpointFor(region: string): string {
  return `https://sts.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

/** RFC 3986 escaping, as SigV4 canonicalizes it. */
function escape(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Makes one token; pure apart from the signing (time and credentials are inputs). */
export async function createEksToken(request: EksTokenRequest): Promise<EksToken> {
  const endpoint = new URL(request.stsEndpoint ?? stsEndpointFor(request.region));
  const signer = sigv4Signer('sts', request.region, request.credentials);
  const unsigned = new HttpRequest({
    method: 'GET',
    protocol: endpoint.protocol,
    hostname: endpoint.hostname,
    ...(endpoint.port === '' ? {} : { port: Number(endpoint.port) }),
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: STS_API_VERSION },
    headers: { host: endpoint.host, [CLUSTER_ID_HEADER]: request.clusterName },
  });
  const presigned = await signer.presign(unsigned, {
    signingDate: new Date(request.now),
    expiresIn: PRESIGN_EXPIRES_SECONDS,
  });
  const query = Object.entries(presigned.query ?? {})
    .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).flatMap((v) => (v === null ? [] : [`${escape(key)}=${escape(v)}`])))
    .join('&');
  const url = `${endpoint.protocol}//${endpoint.host}/?${query}`;
  return {
    token: EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url'),
    url,
    expiresAt: request.now + EKS_TOKEN_LIFETIME_MS,
  };
}

/** The presigned URL inside a token, or undefined when it is not one. */
export function decodeEksToken(token: string): URL | undefined {
  if (!token.startsWith(EKS_TOKEN_PREFIX)) return undefined;
  const encoded = token.slice(EKS_TOKEN_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
  const text = Buffer.from(encoded, 'base64url').toString('utf8');
  return URL.canParse(text) ? new URL(text) : undefined;
}

export interface EksTokenSourceOptions {
  /** The identity that signs tokens (the Lambda role, or local credentials). */
  credentials: CredentialSource;
  /**
   * Credentials for a target's `roleArn` (lib/aws/sts-assume-role.ts's `roleCredentials`). Without it, a target
   * that names a role cannot get a token.
   */
  credentialsForRole?: (roleArn: string) => CredentialSource;
  clock: Clock;
  stsEndpoint?: string;
}

export interface TokenTarget {
  clusterName: string;
  region: string;
  roleArn?: string;
}

/** Hands out tokens per (cluster, region, role), reusing each until a minute before it expires. */
export class EksTokenSource {
  readonly #options: EksTokenSourceOptions;
  readonly #cache = new Map<string, { token: string; refreshAt: number }>();
  readonly #roleCredentials = new Map<string, CredentialSource>();

  constructor(options: EksTokenSourceOptions) {
    this.#options = options;
  }

  async token(target: TokenTarget): Promise<string> {
    const key = cacheKey(target);
    const now = this.#options.clock.now();
    const cached = this.#cache.get(key);
    if (cached !== undefined && now < cached.refreshAt) return cached.token;
    const credentials = await resolve(this.#credentialsFor(target));
    const made = await createEksToken({
      clusterName: target.clusterName,
      region: target.region,
      credentials,
      now,
      ...(this.#options.stsEndpoint === undefined ? {} : { stsEndpoint: this.#options.stsEndpoint }),
    });
    const credentialsEnd = credentials.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
    const refreshAt = Math.min(made.expiresAt, credentialsEnd) - EKS_TOKEN_REFRESH_MARGIN_MS;
    if (refreshAt > now) this.#cache.set(key, { token: made.token, refreshAt });
    return made.token;
  }

  /** Forgets a cached token (the cluster answered 401 to it). */
  invalidate(target: TokenTarget): void {
    this.#cache.delete(cacheKey(target));
  }

  #credentialsFor(target: TokenTarget): CredentialSource {
    if (target.roleArn === undefined) return this.#options.credentials;
    const make = this.#options.credentialsForRole;
    if (make === undefined) {
      throw new CertrotateError(
        `cluster ${target.clusterName} is configured with role ${target.roleArn}, but no way to assume roles was provided`,
      );
    }
    let source = this.#roleCredentials.get(target.roleArn);
    if (source === undefined) {
      source = make(target.roleArn);
      this.#roleCredentials.set(target.roleArn, source);
    }
    return source;
  }
}

function cacheKey(target: TokenTarget): string {
  return `${target.region}/${target.clusterName}/${target.roleArn ?? ''}`;
}

async function resolve(source: CredentialSource): Promise<AwsCredentials> {
  return typeof source === 'function' ? source() : source;
}
