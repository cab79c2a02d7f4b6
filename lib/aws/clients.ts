/**
 * The one place SDK clients are created; adapters get them injected. Endpoints are optional: the
 * local run and the integration tests point them at the local servers, LocalStack or a real
 * account, and the adapters never know which.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EKSClient } from '@aws-sdk/client-eks';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentials } from './eks-token.js';

export interface AwsClientOptions {
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  endpoints?: { dynamodb?: string; secretsManager?: string; eks?: string };
}

export interface AwsClients {
  dynamodb: DynamoDBClient;
  secretsManager: SecretsManagerClient;
  /** The EKS client of a region (clusters live in their own regions), created on first use. */
  eksFor(region: string): EKSClient;
  /**
   * The identity the clients sign with (the Lambda role's credentials, refreshed by the SDK), for
   * what is signed outside a client: EKS bearer tokens.
   */
  credentials(): Promise<AwsCredentials>;
  destroy(): void;
}

export interface EksClients {
  eksFor(region: string): EKSClient;
  credentials(): Promise<AwsCredentials>;
  destroy(): void;
}

/**
 * EKS clients per region, created lazily: a deployment without EKS consumers never creates one.
 * With `endpoint` (a local EKS endpoint), every region's client points there.
 */
export function createEksClients(options: { credentials?: AwsClientOptions['credentials']; endpoint?: string; defaultRegion: string }): EksClients {
  const clients = new Map<string, EKSClient>();
  const eksFor = (region: string): EKSClient => {
    let client = clients.get(region);
    if (client === undefined) {
      client = new EKSClient({
        region,
        ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      });
      clients.set(region, client);
    }
    return client;
  };
  return {
    eksFor,
    async credentials() {
      const identity = await eksFor(options.defaultRegion).config.credentials();
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

export interface StsClientOptions {
  region: string;
  /** The identity that signs (the caller's own, not the SDK's default chain). */
  credentials: AwsCredentials;
  /** The signing instant, epoch ms: the caller's clock, which may not be the wall clock. */
  signingTime: number;
  /** The regional STS endpoint unless given (a local STS, a VPC endpoint). */
  endpoint?: string;
}

/**
 * An STS client for one call signed with `credentials` at `signingTime` (the SDK signs at the wall
 * clock plus `systemClockOffset`). One attempt: the caller decides whether a failure is retried.
 */
export function createStsClient(options: StsClientOptions): STSClient {
  const { accessKeyId, secretAccessKey, sessionToken } = options.credentials;
  return new STSClient({
    region: options.region,
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) },
    systemClockOffset: options.signingTime - Date.now(),
    maxAttempts: 1,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
  });
}

export function createAwsClients(options: AwsClientOptions): AwsClients {
  const common = {
    region: options.region,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
  const dynamodb = new DynamoDBClient({
    ...common,
    ...(options.endpoints?.dynamodb === undefined ? {} : { endpoint: options.endpoints.dynamodb }),
  });
  // Throttled Secrets Manager writes are retried by our WriteLimiter, which keeps every attempt
  // inside the shared write rate; the SDK's own retries would not be metered.
  const secretsManager = new SecretsManagerClient({
    ...common,
    maxAttempts: 1,
    ...(options.endpoints?.secretsManager === undefined ? {} : { endpoint: options.endpoints.secretsManager }),
  });
  const eks = createEksClients({
    defaultRegion: options.region,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.endpoints?.eks === undefined ? {} : { endpoint: options.endpoints.eks }),
  });
  return {
    dynamodb,
    secretsManager,
    eksFor: (region) => eks.eksFor(region),
    credentials: () => eks.credentials(),
    destroy() {
      dynamodb.destroy();
      secretsManager.destroy();
      eks.destroy();
    },
  };
}
