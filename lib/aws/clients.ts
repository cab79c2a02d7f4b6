/**
 * The one place SDK clients are created; adapters get them injected. Endpoints are optional: the
 * local run and the integration tests point them at the local servers, LocalStack or a real
 * account, and the adapters never know which.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export interface AwsClientOptions {
  region: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  endpoints?: { dynamodb?: string; secretsManager?: string };
}

export interface AwsClients {
  dynamodb: DynamoDBClient;
  secretsManager: SecretsManagerClient;
  destroy(): void;
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
  return {
    dynamodb,
    secretsManager,
    destroy() {
      dynamodb.destroy();
      secretsManager.destroy();
    },
  };
}
