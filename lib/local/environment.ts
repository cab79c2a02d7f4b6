/**
 * The embedded default: dynalite, the local Secrets Manager and the local KMS on loopback, the real SDK clients
 * pointed at them, and the production adapters on top. The local run and the integration tests
 * both start from here. With `eksClusters`, local EKS clusters too (lib/local/eks-clusters.ts):
 * `deps()` then registers them as consumers, so configured EKS targets are published to and gated on.
 */
import { randomUUID } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { createAwsClients, type AwsClients } from '../aws/clients.js';
import { KmsCaKeys } from '../aws/kms-ca-keys.js';
import { kmsClientSource } from '../aws/kms-client.js';
import { DynamoDbStateStore, createStateTable } from '../aws/dynamodb-state-store.js';
import { PerAuthorityLeafStore } from '../aws/per-authority-leaf-store.js';
import { secretsManagerReadLimiters } from '../aws/read-limiters.js';
import { SecretsManagerCertificateStore } from '../aws/secrets-manager-store.js';
import { WriteLimiter } from '../aws/write-limiter.js';
import { leafStoreOf, type CertrotateConfig } from '../config/index.js';
import { awsTrustConsumers, consumerRegistry, eksConsumers, secretConsumers } from '../consumers/index.js';
import type { EngineDeps } from '../engine/deps.js';
import type { CertificateStore, EventSink } from '../ports.js';
import { parseRotationState, type RotationState } from '../rotation/index.js';
import { startLocalAwsTrust, type LocalAwsTrust, type LocalAwsTrustOptions } from './aws-trust.js';
import { startLocalDynamoDB } from './dynalite.js';
import { startLocalEksClusters, type LocalEksClusters, type LocalEksClustersOptions } from './eks-clusters.js';
import { startLocalKms, type LocalKms } from './kms-server.js';
import type { AwsError } from './kit/aws-error.js';
import { startLocalLeafBucket, type LocalLeafBucket } from './leaf-bucket.js';
import { startLocalSecretsManager, type InjectedFault, type LocalSecretsManager } from './secrets-manager-server.js';
import type { SecretsSnapshot } from './secrets-manager/snapshot.js';
import type { KmsSnapshot } from './kms/snapshot.js';
import type { S3Snapshot } from './s3/snapshot.js';

/**
 * The local Secrets Manager enforces AWS's request quotas times this factor (50 writes/s becomes
 * 1,000/s), so tests and `npm start` meet throttling where AWS would, at a pace that finishes in seconds.
 */
export const LOCAL_QUOTA_SCALE = 20;

export interface LocalEnvironmentOptions {
  /** The write limiter's starting (and highest) rate; default the scaled write quota. */
  writesPerSecond?: number;
  /** Multiplies AWS's documented quotas (default LOCAL_QUOTA_SCALE); `false`: no quota at all. */
  quotaScale?: number | false;
  /** Milliseconds the local Secrets Manager waits before answering each request; default 0. */
  latencyMs?: number;
  faults?: (operation: string, input: unknown) => InjectedFault | undefined;
  /** Faults of the local KMS (TrentService operations), as `faults` for Secrets Manager. */
  kmsFaults?: (operation: string, input: unknown) => InjectedFault | undefined;
  /** KMS calls per second (Sign included); high unless a test asks for pacing. */
  kmsCallsPerSecond?: number;
  /** Start local EKS clusters (true: two, `prod-eu` and `prod-us`, on the wall clock). */
  eksClusters?: boolean | LocalEksClustersOptions;
  /** SDK attempts per call; the production default unless a test asks for another. */
  clientMaxAttempts?: number;
  /**
   * Persistence (the sandbox): dynalite's LevelDB directory, a fixed table name, secrets, KMS keys
   * and the leaf bucket's objects (with `leafBucket`) to start with.
   */
  persist?: { dynamoPath: string; tableName: string; secrets?: SecretsSnapshot; kms?: KmsSnapshot; leafObjects?: S3Snapshot };
  /** Start the local S3, ELBv2, API Gateway and ACM (lib/local/aws-trust.ts) for AWS trust targets. */
  awsTrust?: boolean | LocalAwsTrustOptions;
  /**
   * Start a local S3 with a versioned leaf bucket: the leaves of authorities with `leafStore: s3`
   * (in the configuration `deps()` is given, or `config` until then) live there; `faults` as the
   * local S3 takes them.
   */
  leafBucket?: boolean | { faults?: (operation: string, bucket: string, key: string | undefined) => AwsError | undefined; config?: CertrotateConfig };
}

export interface LocalEnvironment {
  clients: AwsClients;
  secretsManager: LocalSecretsManager;
  /** The local KMS, the client pointed at it, and the CA keys kept in it. */
  kms: { server: LocalKms; client: KMSClient; caKeys: KmsCaKeys };
  tableName: string;
  /** The local DynamoDB and Secrets Manager (and S3, with a leaf bucket), for clients of their own (the CLI's import-ca). */
  endpoints: { dynamodb: string; secretsManager: string; s3?: string };
  /**
   * CAs, bundles and leaves; with a leaf bucket, the leaves of `s3` authorities (as the
   * configuration last given to `deps()` says) in it, the others' in Secrets Manager.
   */
  certificates: CertificateStore;
  /** The Secrets Manager store under `certificates` (its secret names). */
  secrets: SecretsManagerCertificateStore;
  /** The local S3 and its leaf bucket, when started. */
  leafBucket: LocalLeafBucket | undefined;
  state: DynamoDbStateStore<RotationState>;
  /** The local EKS clusters, when started. */
  eks: LocalEksClusters | undefined;
  /** The local S3, ELBv2, API Gateway and ACM, when started. */
  awsTrust: LocalAwsTrust | undefined;
  deps(config: CertrotateConfig, events?: EventSink): EngineDeps;
  stop(): Promise<void>;
}

/** The local leaf bucket, when asked for (its objects restored from `persist.leafObjects`). */
async function leafBucketOf(options: LocalEnvironmentOptions, secretsManager: LocalSecretsManager): Promise<LocalLeafBucket | undefined> {
  if (options.leafBucket === undefined || options.leafBucket === false) return undefined;
  const faults = options.leafBucket === true ? undefined : options.leafBucket.faults;
  const restore = options.persist?.leafObjects;
  return startLocalLeafBucket({
    region: secretsManager.region,
    credentials: secretsManager.credentials,
    ...(faults === undefined ? {} : { faults }),
    ...(restore === undefined ? {} : { restore }),
  });
}

export async function startLocalEnvironment(options: LocalEnvironmentOptions = {}): Promise<LocalEnvironment> {
  const { persist } = options;
  const quotaScale = options.quotaScale ?? LOCAL_QUOTA_SCALE;
  const secretsManager = await startLocalSecretsManager({
    ...(options.faults === undefined ? {} : { faults: options.faults }),
    ...(quotaScale === false ? {} : { quotas: { scale: quotaScale } }),
    ...(options.latencyMs === undefined ? {} : { latencyMs: options.latencyMs }),
    ...(persist?.secrets === undefined ? {} : { restore: persist.secrets }),
  });
  const writeRate = options.writesPerSecond ?? 50 * (quotaScale === false ? 100 : quotaScale);
  // One local identity for every local AWS endpoint.
  const dynamo = await startLocalDynamoDB({ credentials: secretsManager.credentials, ...(persist === undefined ? {} : { path: persist.dynamoPath }) });
  const clients = createAwsClients({
    region: secretsManager.region,
    credentials: secretsManager.credentials,
    endpoints: { dynamodb: dynamo.endpoint, secretsManager: secretsManager.endpoint },
    ...(options.clientMaxAttempts === undefined ? {} : { maxAttempts: options.clientMaxAttempts }),
  });
  const kmsServer = await startLocalKms({
    credentials: secretsManager.credentials,
    ...(options.kmsFaults === undefined ? {} : { faults: options.kmsFaults }),
    ...(persist?.kms === undefined ? {} : { restore: persist.kms }),
  });
  const kmsClients = kmsClientSource({ region: kmsServer.region, credentials: secretsManager.credentials, endpoint: kmsServer.endpoint });
  const kmsClient = await kmsClients.client();
  const caKeys = new KmsCaKeys({ client: () => kmsClients.client(), limiter: new WriteLimiter({ writesPerSecond: options.kmsCallsPerSecond ?? 5000, burst: 50 }) });
  const tableName = persist?.tableName ?? `certrotate-${randomUUID().slice(0, 8)}`;
  await createStateTable(clients.dynamodb, tableName);
  const secrets = new SecretsManagerCertificateStore({
    client: clients.secretsManager,
    writeClient: clients.secretsManagerWrites,
    writeLimiter: new WriteLimiter({ writesPerSecond: writeRate, burst: 50, maxInFlight: 32 }),
    readLimiters: secretsManagerReadLimiters(quotaScale === false ? 100 : quotaScale),
  });
  const leafBucket = await leafBucketOf(options, secretsManager);
  let routing: CertrotateConfig | undefined = options.leafBucket === true || options.leafBucket === false ? undefined : options.leafBucket?.config;
  const certificates: CertificateStore =
    leafBucket === undefined
      ? secrets
      : new PerAuthorityLeafStore({ secrets, s3: leafBucket.store, leafStoreOf: (name) => leafStoreOf(routing?.authorities.find((a) => a.name === name) ?? {}) });
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
    kms: { server: kmsServer, client: kmsClient, caKeys },
    tableName,
    endpoints: { dynamodb: dynamo.endpoint, secretsManager: secretsManager.endpoint, ...(leafBucket === undefined ? {} : { s3: leafBucket.s3.endpoint }) },
    certificates,
    secrets,
    leafBucket,
    state,
    eks,
    awsTrust,
    deps(config, events = { emit: () => undefined }) {
      routing = config;
      const consumers = consumerRegistry(secretConsumers(), eksConsumers(eks?.publisher), awsTrustConsumers(awsTrust?.adapters));
      return { certificates, caKeys, state, events, config, writeConcurrency: 16, consumers };
    },
    async stop() {
      clients.destroy();
      kmsClients.destroy();
      await Promise.all([secretsManager.stop(), kmsServer.stop(), dynamo.stop(), eks?.stop(), awsTrust?.stop(), leafBucket?.stop()]);
    },
  };
}
