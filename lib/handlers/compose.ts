/**
 * Composition: from the validated environment to the adapters the handlers use. SDK clients are
 * created by lib/aws/clients.ts, once per sandbox, and injected.
 */
import { createAwsClients, type AwsClients } from '../aws/clients.js';
import { awsTrustAdaptersFor, type AwsTrustAdapters } from '../aws/aws-trust-adapters.js';
import { DynamoDbStateStore } from '../aws/dynamodb-state-store.js';
import { EksPublisher } from '../aws/eks-publisher.js';
import { EksTokenSource } from '../aws/eks-token.js';
import { createAwsTrustClients } from '../aws/aws-trust-clients.js';
import { PerAuthorityLeafStore } from '../aws/per-authority-leaf-store.js';
import { S3LeafStore } from '../aws/s3-leaf-store.js';
import { SecretsManagerCertificateStore } from '../aws/secrets-manager-store.js';
import { roleCredentials } from '../aws/sts-assume-role.js';
import { SECRETS_MANAGER_WRITE_QUOTA, WriteLimiter } from '../aws/write-limiter.js';
import { eksTargetsOf, leafStoreOf, type CertrotateConfig } from '../config/index.js';
import { awsTrustConsumers, consumerRegistry, eksConsumers, secretConsumers } from '../consumers/index.js';
import type { EngineDeps } from '../engine/deps.js';
import type { CaKeyService, CertificateStore, Clock, ConsumerPublisher, EventSink, RequestLedger, StateStore } from '../ports.js';
import { parseRotationState, type RotationState } from '../rotation/index.js';
import { processEnv, type HandlerEnv } from './env.js';
import { DynamoDbRequestLedger } from '../aws/dynamodb-request-ledger.js';
import { EventBridgeEventSink, lazyEventBridgeClient } from '../aws/eventbridge-event-sink.js';
import { caKeysFor } from './ca-keys.js';

/** What every handler works with; events are added per invocation (they go to its logger). */
export interface HandlerDeps {
  certificates: CertificateStore;
  state: StateStore<RotationState>;
  ledger: RequestLedger;
  config: CertrotateConfig;
  writeConcurrency?: number;
  /** Present when the configuration names EKS consumers. */
  publisher?: ConsumerPublisher;
  /** Every engine event also goes here (EventBridge); the handler flushes it before it returns. */
  eventBus?: EventSink & { flush(): Promise<{ undelivered: number; reason: string }> };
  /** Present when an authority keeps its CA keys in KMS, or a stored CA does (caKeyStore `kms`). */
  caKeys?: CaKeyService;
  /** Present when the configuration names ELBv2 trust stores, API Gateway domains or ACM certificates. */
  awsTrust?: AwsTrustAdapters;
}

export const systemClock: Clock = { now: () => Date.now() };

export function engineDeps(deps: HandlerDeps, events: EventSink): EngineDeps {
  const bus = deps.eventBus;
  return {
    certificates: deps.certificates,
    ...(deps.caKeys === undefined ? {} : { caKeys: deps.caKeys }),
    state: deps.state,
    events: bus === undefined ? events : { emit: (event) => (events.emit(event), bus.emit(event)) },
    config: deps.config,
    ...(deps.writeConcurrency === undefined ? {} : { writeConcurrency: deps.writeConcurrency }),
    // The consumer kinds of a deployment: one registration each.
    consumers: consumerRegistry(secretConsumers(), eksConsumers(deps.publisher), awsTrustConsumers(deps.awsTrust)),
  };
}

/**
 * The EKS publisher, when the configuration names EKS consumers: DescribeCluster through the
 * lazily created EKS clients, bearer tokens signed with the functions' own credentials, or, for a
 * target with a `roleArn`, with that role's credentials from STS AssumeRole (the STS of `region`,
 * the functions' own; cached per role until 5 minutes before they expire).
 */
export function eksPublisherFor(
  config: CertrotateConfig,
  clients: Pick<AwsClients, 'eksFor' | 'credentials'>,
  options: { region: string; stsEndpoint?: string; clock?: Clock },
): EksPublisher | undefined {
  if (eksTargetsOf(config).length === 0) return undefined;
  const clock = options.clock ?? systemClock;
  const stsEndpoint = options.stsEndpoint === undefined ? {} : { stsEndpoint: options.stsEndpoint };
  const base = () => clients.credentials();
  return new EksPublisher({
    eksClientFor: (region) => clients.eksFor(region),
    tokens: new EksTokenSource({
      credentials: base,
      credentialsForRole: roleCredentials(base, clock, {
        region: options.region,
        ...(options.stsEndpoint === undefined ? {} : { endpoint: options.stsEndpoint }),
      }),
      clock,
      ...stsEndpoint,
    }),
    clock,
  });
}

export function composeDeps(
  env: HandlerEnv,
  options: { credentials?: { accessKeyId: string; secretAccessKey: string } } = {},
): HandlerDeps {
  const clients = createAwsClients({
    region: env.region,
    endpoints: env.endpoints,
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  });
  const secrets = new SecretsManagerCertificateStore({
    client: clients.secretsManager,
    writeClient: clients.secretsManagerWrites,
    prefix: env.secretPrefix,
    ...(env.kmsKeyId === undefined ? {} : { kmsKeyId: env.kmsKeyId }),
    // Starts at the configured rate and adapts (AIMD) up to the account's quota, down on throttling.
    writeLimiter: new WriteLimiter({ writesPerSecond: env.writesPerSecond, maxWritesPerSecond: SECRETS_MANAGER_WRITE_QUOTA }),
  });
  const certificates = new PerAuthorityLeafStore({ secrets, s3: s3LeafStoreFor(env, options.credentials), leafStoreOf: (name) => leafStoreOf(env.config.authorities.find((a) => a.name === name) ?? {}) });
  const publisher = eksPublisherFor(env.config, clients, { region: env.region, ...(env.endpoints.sts === undefined ? {} : { stsEndpoint: env.endpoints.sts }) });
  const caKeys = caKeysFor(env, options.credentials);
  const awsTrust = awsTrustAdaptersFor(env.config, options.credentials === undefined ? {} : { credentials: options.credentials }, env.secretPrefix);
  return {
    certificates,
    ...(publisher === undefined ? {} : { publisher }),
    ...(awsTrust === undefined ? {} : { awsTrust }),
    caKeys,
    state: new DynamoDbStateStore<RotationState>({ client: clients.dynamodb, tableName: env.tableName, parseState: parseRotationState }),
    ledger: new DynamoDbRequestLedger({ client: clients.dynamodb, tableName: env.tableName }),
    config: env.config,
    ...eventBusFor(env, options.credentials),
    // Enough in flight to keep the write limiter busy; the limiter, not this, sets the rate.
    writeConcurrency: Math.max(1, Math.ceil(env.writesPerSecond / 2)),
  };
}

/**
 * The leaves of `leafStore: s3` authorities, in CERTROTATE_LEAF_BUCKET; undefined without one (then
 * no authority has s3: readHandlerEnv refuses that). The S3 SDK is loaded on first use.
 */
export function s3LeafStoreFor(env: HandlerEnv, credentials?: { accessKeyId: string; secretAccessKey: string }): S3LeafStore | undefined {
  if (env.leafBucket === undefined) return undefined;
  const clients = createAwsTrustClients({ maxAttempts: 4, ...(credentials === undefined ? {} : { credentials }), ...(env.endpoints.s3 === undefined ? {} : { endpoints: { s3: env.endpoints.s3 } }) });
  return new S3LeafStore({ s3: () => clients.s3(env.region), bucket: env.leafBucket, prefix: env.secretPrefix });
}

/**
 * EventBridge in AWS, or at CERTROTATE_EVENTS_ENDPOINT. Against local stores with no local
 * EventBridge named (a sandbox, a test), events go to the log only: never to a real bus, and no
 * run waits on an endpoint that cannot answer.
 */
export function eventBusFor(env: HandlerEnv, credentials?: { accessKeyId: string; secretAccessKey: string }): Pick<HandlerDeps, 'eventBus'> {
  const local = env.endpoints.dynamodb !== undefined || env.endpoints.secretsManager !== undefined;
  if (local && env.endpoints.events === undefined) return {};
  const endpoint = env.endpoints.events === undefined ? {} : { endpoint: env.endpoints.events };
  return { eventBus: new EventBridgeEventSink({ client: lazyEventBridgeClient({ region: env.region, ...endpoint, ...(credentials === undefined ? {} : { credentials }) }) }) };
}

let production: HandlerDeps | undefined;

/** The deployed functions' deps: the environment is read and validated on first use, once per sandbox. */
export function productionDeps(): HandlerDeps {
  production ??= composeDeps(processEnv());
  return production;
}
