/**
 * The cluster side of EKS authentication: what aws-iam-authenticator does with a bearer token. It
 * decodes the token, checks the URL's shape, replays it to the (local) STS with the cluster's name,
 * and maps the caller to a Kubernetes user. The local Kubernetes server takes it as its token
 * verifier, so the whole chain (DescribeCluster, token, kube API, STS) runs as on EKS.
 */
import { CLUSTER_ID_HEADER, EKS_TOKEN_LIFETIME_MS, decodeEksToken } from '../../aws/eks-token.js';
import { parseAmzDate } from '../kit/http.js';
import { isRecord } from '../kit/json-protocol.js';
import type { KubeUser, TokenVerifier } from '../kubernetes-server.js';
import { PRESIGN_PARAMS } from '../sts/wire.js';

export interface EksTokenVerifierOptions {
  /** The cluster's name: the token's signed `x-k8s-aws-id` must be this. */
  clusterName: string;
  /** STS endpoints a token may point at (scheme and host), e.g. the local STS's endpoint. */
  stsEndpoints: readonly string[];
  now: () => number;
  /** Maps a caller ARN to groups (EKS access entries); none by default. */
  groupsFor?: (arn: string) => string[];
  timeoutMs?: number;
}

/** `arn:aws:sts::1:assumed-role/R/session` -> `arn:aws:iam::1:role/R`, as EKS maps callers. */
export function canonicalPrincipalArn(arn: string): string {
  const match = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(arn);
  if (match === null) return arn;
  return `arn:${match[1] ?? 'aws'}:iam::${match[2] ?? ''}:role/${match[3] ?? ''}`;
}

/**
 * A TokenVerifier for the local Kubernetes server: undefined (401) for anything that is not a
 * current, correctly signed token for this cluster.
 */
export function eksTokenVerifier(options: EksTokenVerifierOptions): TokenVerifier {
  const allowedHosts = new Set(options.stsEndpoints.map((endpoint) => new URL(endpoint).host));
  // Like kube-apiserver's token webhook cache (--authentication-token-webhook-cache-ttl, 2m by
  // default): a token once verified is accepted for two minutes without asking STS again.
  const verified = new Map<string, { user: KubeUser; until: number }>();
  // Requests that arrive together with the same new token share one STS check.
  const checking = new Map<string, Promise<KubeUser | undefined>>();
  return (token: string): Promise<KubeUser | undefined> => {
    const cached = verified.get(token);
    if (cached !== undefined && options.now() < cached.until) return Promise.resolve(cached.user);
    let check = checking.get(token);
    if (check === undefined) {
      check = verifyAndRemember(token).finally(() => checking.delete(token));
      checking.set(token, check);
    }
    return check;
  };

  async function verifyAndRemember(token: string): Promise<KubeUser | undefined> {
    const user = await verify(token);
    const signedAt = parseAmzDate(decodeEksToken(token)?.searchParams.get('X-Amz-Date') ?? '');
    if (user !== undefined && signedAt !== undefined) {
      if (verified.size > 1000) verified.clear();
      // Never past the token's own expiry.
      verified.set(token, { user, until: Math.min(options.now() + TOKEN_CACHE_TTL_MS, signedAt + EKS_TOKEN_LIFETIME_MS + 1) });
    }
    return user;
  }

  async function verify(token: string): Promise<KubeUser | undefined> {
    const url = decodeEksToken(token);
    if (url === undefined || !allowedHosts.has(url.host) || url.pathname !== '/') return undefined;
    const params = url.searchParams;
    const allowed = new Set(['Action', 'Version', ...PRESIGN_PARAMS]);
    if ([...params.keys()].some((key) => !allowed.has(key))) return undefined;
    if (params.get('Action') !== 'GetCallerIdentity') return undefined;
    if (!(params.get('X-Amz-SignedHeaders') ?? '').split(';').includes(CLUSTER_ID_HEADER)) return undefined;
    const signedAt = parseAmzDate(params.get('X-Amz-Date') ?? '');
    if (signedAt === undefined || options.now() > signedAt + EKS_TOKEN_LIFETIME_MS) return undefined;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { [CLUSTER_ID_HEADER]: options.clusterName, accept: 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      });
    } catch {
      return undefined;
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      return undefined;
    }
    const body: unknown = await response.json();
    const result = readPath(body, ['GetCallerIdentityResponse', 'GetCallerIdentityResult']);
    const arn = readPath(result, ['Arn']);
    const account = readPath(result, ['Account']);
    const userId = readPath(result, ['UserId']);
    if (typeof arn !== 'string' || typeof account !== 'string' || typeof userId !== 'string') return undefined;
    const username = canonicalPrincipalArn(arn);
    return { username, uid: `aws-iam-authenticator:${account}:${userId}`, groups: options.groupsFor?.(username) ?? [] };
  }
}

const TOKEN_CACHE_TTL_MS = 2 * 60_000;

function readPath(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}
