/**
 * Composition: from the validated environment to the adapters the handlers use. SDK clients are
 * created by lib/aws/clients.ts, once per sandbox, and injected.
 */
import { createAwsClients, type AwsClients } from '../aws/clients.js';
import { awsTrustAdaptersFor, type AwsTrustAdapters } from '../aws/aws-trust-adapters.js';
import { DynamoDbStateStore } from '../aws/dynamodb-state-store.js';
import { EksPublisher } from '../aws/eks-publisher.js';
import { EksTokenSource } from '../aws/eks-token.js';
import { SecretsManagerCertificateStore } from '../aws/secrets-manager-store.js';
import { roleCredentials } from '../aws/sts-assume-role.js';
import { WriteLimiter } from '../aws/write-limiter.js';
import { eksTargetsOf, type CertrotateConfig } from '../config/index.js';
import { awsTrustConsumers, consumerRegistry, eksConsumers, secretConsumers } from '../consumers/index.js';
import type { EngineDeps } from '../engine/deps.js';
import type { CertificateStore, Clock, ConsumerPublisher, EventSink, RequestLedger, StateStore } from '../ports.js';
import { parseRotationState, type RotationState } from '../rotation/index.js';
import { processEnv, type HandlerEnv } from './env.js';
import { DynamoDbRequestLedger } from '../aws/dynamodb-request-ledger.js';

/** What every handler works with; events are added per invocation (they go to its logger). */
export interface HandlerDeps {
  certificates: CertificateStore;
  state: StateStore<RotationState>;
  ledger: RequestLedger;
  config: CertrotateConfig;
  writeConcurrency?: number;
  /** Present when the configuration names EKS consumers. */
  publisher?: ConsumerPublisher;
  /** Present when the configuration names ELBv2 trust stores, API Gateway domains or ACM certificates. */
  awsTrust?: AwsTrustAdapters;
}

export const systemClock: Clock = { now: () => Date.now() };

export function engineDeps(deps: HandlerDeps, events: EventSink): EngineDeps {
  return {
    certificates: deps.certificates,
    state: deps.state,
    events,
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
  const certificates = new SecretsManagerCertificateStore({
    client: clients.secretsManager,
    writeClient: clients.secretsManagerWrites,
    prefix: env.secretPrefix,
    ...(env.kmsKeyId === undefined ? {} : { kmsKeyId: env.kmsKeyId }),
    writeLimiter: new WriteLimiter({ writesPerSecond: env.writesPerSecond }),
  });
  const publisher = eksPublisherFor(env.config, clients, { region: env.region, ...(env.endpoints.sts === undefined ? {} : { stsEndpoint: env.endpoints.sts }) });
  const awsTrust = awsTrustAdaptersFor(env.config, options.credentials === undefined ? {} : { credentials: options.credentials });
  return {
    certificates,
    ...(publisher === undefined ? {} : { publisher }),
    ...(awsTrust === undefined ? {} : { awsTrust }),
    state: new DynamoDbStateStore<RotationState>({ client: clients.dynamodb, tableName: env.tableName, parseState: parseRotationState }),
    ledger: new DynamoDbRequestLedger({ client: clients.dynamodb, tableName: env.tableName }),
    config: env.config,
    // Enough in flight to keep the write limiter busy; the limiter, not this, sets the rate.
    writeConcurrency: Math.max(1, Math.ceil(env.writesPerSecond / 2)),
  };
}

let production: HandlerDeps | undefined;

/** The deployed functions' deps: the environment is read and validated on first use, once per sandbox. */
export function productionDeps(): HandlerDeps {
  production ??= composeDeps(processEnv());
  return production;
}
