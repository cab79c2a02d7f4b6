/**
 * The one place SDK clients are created; adapters get them injected. Endpoints are optional: the
 * local run and the integration tests point them at the local servers, LocalStack or a real
 * account, and the adapters never know which.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type * as EksSdk from '@aws-sdk/client-eks';
import type { EKSClient } from '@aws-sdk/client-eks';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsCredentials } from './eks-token.js';

export interface AwsClientOptions {
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  endpoints?: { dynamodb?: string; secretsManager?: string; eks?: string };
  /** Per-attempt limits; the defaults (CLIENT_TIMEOUTS) sit well inside a run's time budget. */
  timeouts?: ClientTimeouts;
  /**
   * Attempts per call, the first included (default MAX_ATTEMPTS). The local EKS clusters pass 1:
   * a simulated day of an unreachable cluster must not sleep through real backoff on every tick.
   */
  maxAttempts?: number;
}

export interface ClientTimeouts {
  /** Time to open a connection. */
  connectMs: number;
  /** Time for an answer once the request is sent; an unanswered call fails and is retried. */
  requestMs: number;
}

/**
 * Every call is bounded: a hung endpoint costs at most MAX_ATTEMPTS x (connect + request) before
 * the run moves on, a small part of the scan's two-minute margin and the functions' timeouts.
 */
export const CLIENT_TIMEOUTS: ClientTimeouts = { connectMs: 3_000, requestMs: 10_000 };

/**
 * The SDK's standard retry strategy (exponential backoff with full jitter, throttling and transient
 * errors and 5xx retried) on every call but Secrets Manager's, whose retries the WriteLimiter and
 * the read limiters (lib/aws/read-limiters.ts) make so that each attempt stays inside its quota.
 */
const MAX_ATTEMPTS = 4;

export function clientDefaults(options: Pick<AwsClientOptions, 'region' | 'credentials' | 'timeouts' | 'maxAttempts'>, maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS) {
  const timeouts = options.timeouts ?? CLIENT_TIMEOUTS;
  return {
    region: options.region,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    maxAttempts,
    retryMode: 'standard',
    requestHandler: { connectionTimeout: timeouts.connectMs, requestTimeout: timeouts.requestMs, throwOnRequestTimeout: true },
  } as const;
}

export interface AwsClients {
  dynamodb: DynamoDBClient;
  /**
   * Reads: one attempt per call, because the store's read limiters retry them within each read
   * quota (an SDK retry would be an attempt the limiter neither paces nor counts).
   */
  secretsManager: SecretsManagerClient;
  /** Writes: one attempt per call, because the WriteLimiter retries them within the write rate. */
  secretsManagerWrites: SecretsManagerClient;
  /** The EKS client of a region (clusters live in their own regions), created on first use. */
  eksFor(region: string): Promise<EKSClient>;
  /**
   * The identity the clients sign with (the Lambda role's credentials, refreshed by the SDK), for
   * what is signed outside a client: EKS bearer tokens.
   */
  credentials(): Promise<AwsCredentials>;
  destroy(): void;
}

export interface EksClients {
  eksFor(region: string): Promise<EKSClient>;
  credentials(): Promise<AwsCredentials>;
  destroy(): void;
}

let eksModule: Promise<typeof EksSdk> | undefined;

/**
 * @aws-sdk/client-eks, loaded on first use: it is left out of the function bundles (~54 KB;
 * infra/bundling.ts; the Lambda runtime provides it), so a deployment without EKS consumers never loads it.
 */
export function loadEks(): Promise<typeof EksSdk> {
  eksModule ??= import('@aws-sdk/client-eks');
  return eksModule;
}

/**
 * EKS clients per region, created lazily: a deployment without EKS consumers never creates one.
 * With `endpoint` (a local EKS endpoint), every region's client points there.
 */
export function createEksClients(options: {
  credentials?: AwsClientOptions['credentials'];
  endpoint?: string;
  defaultRegion: string;
  timeouts?: ClientTimeouts;
  maxAttempts?: number;
}): EksClients {
  const clients = new Map<string, EKSClient>();
  const eksFor = async (region: string): Promise<EKSClient> => {
    const { EKSClient } = await loadEks();
    let client = clients.get(region);
    if (client === undefined) {
      client = new EKSClient({
        ...clientDefaults({ ...options, region }),
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      });
      clients.set(region, client);
    }
    return client;
  };
  return {
    eksFor,
    async credentials() {
      const identity = await (await eksFor(options.defaultRegion)).config.credentials();
      return {
        accessKeyId: identity.accessKeyId,
        secretAccessKey: identity.secretAccessKey,
        ...(identity.sessionToken === undefined ? {} : { sessionToken: identity.sessionToken }),
        ...(identity.expiration === undefined ? {} : { expiration: identity.expiration }),
      };
    },
    destroy() {
      for (const client of clients.values()) client.destroy();
      clients.clear();
    },
  };
}

export function createAwsClients(options: AwsClientOptions): AwsClients {
  const dynamodb = new DynamoDBClient({
    ...clientDefaults(options),
    ...(options.endpoints?.dynamodb === undefined ? {} : { endpoint: options.endpoints.dynamodb }),
  });
  const secretsManagerEndpoint = options.endpoints?.secretsManager === undefined ? {} : { endpoint: options.endpoints.secretsManager };
  const secretsManager = new SecretsManagerClient({ ...clientDefaults(options, 1), ...secretsManagerEndpoint });
  const secretsManagerWrites = new SecretsManagerClient({ ...clientDefaults(options, 1), ...secretsManagerEndpoint });
  const eks = createEksClients({
    defaultRegion: options.region,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.endpoints?.eks === undefined ? {} : { endpoint: options.endpoints.eks }),
  });
  return {
    dynamodb,
    secretsManager,
    secretsManagerWrites,
    eksFor: (region) => eks.eksFor(region),
    credentials: () => eks.credentials(),
    destroy() {
      dynamodb.destroy();
      secretsManager.destroy();
      secretsManagerWrites.destroy();
      eks.destroy();
    },
  };
}
