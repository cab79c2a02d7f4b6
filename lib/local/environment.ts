/**
 * The embedded default: dynalite and the local Secrets Manager on loopback, the real SDK clients
 * pointed at them, and the production adapters on top. The local run and the integration tests
 * both start from here. With `eksClusters`, local EKS clusters too (lib/local/eks-clusters.ts):
 * `deps()` then registers them as consumers, so configured EKS targets are published to and gated on.
 */
import { randomUUID } from 'node:crypto';
import { createAwsClients, type AwsClients } from '../aws/clients.js';
import { DynamoDbStateStore, createStateTable } from '../aws/dynamodb-state-store.js';
import { SecretsManagerCertificateStore } from '../aws/secrets-manager-store.js';
import { WriteLimiter } from '../aws/write-limiter.js';
import type { CertrotateConfig } from '../config/index.js';
import { awsTrustConsumers, consumerRegistry, eksConsumers, secretConsumers } from '../consumers/index.js';
import type { EngineDeps } from '../engine/deps.js';
import type { EventSink } from '../ports.js';
import { parseRotationState, type RotationState } from '../rotation/index.js';
import { startLocalAwsTrust, type LocalAwsTrust, type LocalAwsTrustOptions } from './aws-trust.js';
import { startLocalDynamoDB } from './dynalite.js';
import { startLocalEksClusters, type LocalEksClusters, type LocalEksClustersOptions } from './eks-clusters.js';
import { startLocalSecretsManager, type InjectedFault, type LocalSecretsManager } from './secrets-manager-server.js';

export interface LocalEnvironmentOptions {
  /** Secret writes per second; the local server has no quota, so the default is high. */
  writesPerSecond?: number;
  faults?: (operation: string, input: unknown) => InjectedFault | undefined;
  /** Start local EKS clusters (true: two, `prod-eu` and `prod-us`, on the wall clock). */
  eksClusters?: boolean | LocalEksClustersOptions;
  /** SDK attempts per call; the production default unless a test asks for another. */
  clientMaxAttempts?: number;
  /** Start the local S3, ELBv2, API Gateway and ACM (lib/local/aws-trust.ts) for AWS trust targets. */
  awsTrust?: boolean | LocalAwsTrustOptions;
}

export interface LocalEnvironment {
  clients: AwsClients;
  secretsManager: LocalSecretsManager;
  tableName: string;
  certificates: SecretsManagerCertificateStore;
  state: DynamoDbStateStore<RotationState>;
  /** The local EKS clusters, when started. */
  eks: LocalEksClusters | undefined;
  /** The local S3, ELBv2, API Gateway and ACM, when started. */
  awsTrust: LocalAwsTrust | undefined;
  deps(config: CertrotateConfig, events?: EventSink): EngineDeps;
  stop(): Promise<void>;
}

export async function startLocalEnvironment(options: LocalEnvironmentOptions = {}): Promise<LocalEnvironment> {
  const secretsManager = await startLocalSecretsManager(options.faults === undefined ? {} : { faults: options.faults });
  // One local identity for every local AWS endpoint.
  const dynamo = await startLocalDynamoDB({ credentials: secretsManager.credentials });
  const clients = createAwsClients({
    region: secretsManager.region,
    credentials: secretsManager.credentials,
    endpoints: { dynamodb: dynamo.endpoint, secretsManager: secretsManager.endpoint },
    ...(options.clientMaxAttempts === undefined ? {} : { maxAttempts: options.clientMaxAttempts }),
  });
  const tableName = `certrotate-${randomUUID().slice(0, 8)}`;
  await createStateTable(clients.dynamodb, tableName);
  const certificates = new SecretsManagerCertificateStore({
    client: clients.secretsManager,
    writeClient: clients.secretsManagerWrites,
    writeLimiter: new WriteLimiter({ writesPerSecond: options.writesPerSecond ?? 5000, burst: 50 }),
  });
  const state = new DynamoDbStateStore<RotationState>({ client: clients.dynamodb, tableName, parseState: parseRotationState });
  const eks =
    options.eksClusters === undefined || options.eksClusters === false
      ? undefined
      : await startLocalEksClusters({ credentials: secretsManager.credentials, ...(options.eksClusters === true ? {} : options.eksClusters) });
  const awsTrust =
    options.awsTrust === undefined || options.awsTrust === false
      ? undefined
      : await startLocalAwsTrust({ region: secretsManager.region, credentials: secretsManager.credentials, ...(options.awsTrust === true ? {} : options.awsTrust) });
  return {
    clients,
    secretsManager,
    tableName,
    certificates,
    state,
    eks,
    awsTrust,
    deps(config, events = { emit: () => undefined }) {
      const consumers = consumerRegistry(secretConsumers(), eksConsumers(eks?.publisher), awsTrustConsumers(awsTrust?.adapters));
      return { certificates, state, events, config, writeConcurrency: 16, consumers };
    },
    async stop() {
      clients.destroy();
      await Promise.all([secretsManager.stop(), dynamo.stop(), eks?.stop(), awsTrust?.stop()]);
    },
  };
}
