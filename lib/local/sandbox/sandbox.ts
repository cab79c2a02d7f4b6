/**
 * The sandbox: the whole product on a laptop. A composition root like the Lambdas' own: the local
 * endpoints (lib/local/environment.ts) with their state persisted in a directory, local EKS
 * clusters for the configuration's EKS consumers, a local leaf bucket (kept in the directory too) for
 * its `leafStore: s3` authorities, a local S3, ELBv2, API Gateway and ACM for its
 * AWS trust targets (provisioned as an operator would have them), the three real handlers behind a local Lambda
 * Invoke endpoint, all reading the sandbox's simulated clock, and a scheduler firing the real
 * scan, reconcile and advance events on that clock. Reports one line per phase transition, renewal
 * and operator command through `out`.
 */
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { createHandler as createAdvance } from '../../../functions/advance.js';
import { createHandler as createCommand } from '../../../functions/command.js';
import { createHandler as createScan } from '../../../functions/scan.js';
import { DynamoDbRequestLedger } from '../../aws/dynamodb-request-ledger.js';
import { eksTargetsOf, leafStoreOf, type CertrotateConfig } from '../../config/index.js';
import { ValidationError } from '../../errors.js';
import type { HandlerDeps } from '../../handlers/compose.js';
import { startLocalEnvironment, type LocalEnvironment, type LocalEnvironmentOptions } from '../environment.js';
import { startLocalLambda, type InvokeResult } from '../lambda/server.js';
import { SimulatedClock } from './clock.js';
import { SANDBOX_FUNCTIONS } from './names.js';
import { sandboxFiles, type SandboxFiles } from './persistence.js';
import { startScheduler, type ScheduledInvocation } from './scheduler.js';
import { describeInvocation } from './report.js';
import { fileTools } from './tools.js';

export { SANDBOX_FUNCTIONS };

export interface SandboxOptions {
  dir: string;
  speed: number;
  config: CertrotateConfig;
  /** Where the configuration came from, for the describe answer. */
  configSource: string;
  out: (line: string) => void;
  /** Called with the endpoint once it listens, before the scheduler's first run. */
  ready?: (endpoint: string) => void;
  port?: number;
  /**
   * Authorities to be adopted with `certrotate import-ca`: the schedule leaves them alone (no
   * bootstrap, no CA generated) until they have a state, which the import writes.
   */
  adopt?: readonly string[];
}

export interface Sandbox {
  endpoint: string;
  stop(): Promise<void>;
}

/** Local EKS clusters for the configuration's EKS targets (one region: one local EKS endpoint). */
function eksClustersFor(config: CertrotateConfig): LocalEnvironmentOptions['eksClusters'] {
  const targets = eksTargetsOf(config);
  if (targets.length === 0) return false;
  const regions = [...new Set(targets.map((target) => target.region))];
  if (regions.length > 1) throw new ValidationError(`the sandbox runs local EKS clusters in one region; the configuration names ${regions.join(', ')}`);
  const names = [...new Set(targets.map((target) => target.clusterName))];
  const namespaces = [...new Set(targets.map((target) => target.namespace))];
  return { names, namespaces, ...(regions[0] === undefined ? {} : { region: regions[0] }) };
}

/**
 * The local S3, ELBv2, API Gateway and ACM for the configuration's AWS trust targets (one region,
 * as for EKS), on the sandbox's clock. What they hold is not kept across a restart: they start
 * empty, are provisioned again, and the engine republishes the bundle and leaves to them, as to a
 * recreated EKS cluster.
 */
function awsTrustFor(config: CertrotateConfig, clock: SimulatedClock): LocalEnvironmentOptions['awsTrust'] {
  const targets = config.authorities.flatMap(({ consumers }) => [...(consumers?.elbv2TrustStores ?? []), ...(consumers?.apiGatewayDomains ?? []), ...(consumers?.acmCertificates ?? [])]);
  if (targets.length === 0) return false;
  const regions = [...new Set(targets.map((target) => target.region))];
  if (regions.length > 1) throw new ValidationError(`the sandbox runs the local AWS trust targets in one region; the configuration names ${regions.join(', ')}`);
  return { now: () => clock.now(), ...(regions[0] === undefined ? {} : { region: regions[0] }) };
}

/** The local leaf bucket, when an authority keeps its leaves in S3; its objects are kept in the directory. */
function leafBucketFor(config: CertrotateConfig): LocalEnvironmentOptions['leafBucket'] {
  return config.authorities.some((authority) => leafStoreOf(authority) === 's3') ? { config } : false;
}

function startEnvironment(options: SandboxOptions, files: ReturnType<typeof sandboxFiles>, tableName: string, clock: SimulatedClock) {
  return startLocalEnvironment({
    persist: {
      dynamoPath: files.dynamoPath,
      tableName,
      ...(files.secrets === undefined ? {} : { secrets: files.secrets }),
      ...(files.kms === undefined ? {} : { kms: files.kms }),
      ...(files.leafObjects === undefined ? {} : { leafObjects: files.leafObjects }),
    },
    eksClusters: eksClustersFor(options.config),
    awsTrust: awsTrustFor(options.config, clock),
    leafBucket: leafBucketFor(options.config),
  });
}

/** Writes what a restart resumes from: the simulated instant, the secrets, the KMS keys, the leaf bucket's objects. */
function saveState(files: SandboxFiles, env: LocalEnvironment, tableName: string, clock: SimulatedClock): void {
  const state = { secrets: env.secretsManager.snapshot(), kms: env.kms.server.snapshot(), leafObjects: env.leafBucket?.s3.snapshot() };
  files.save({ format: 'certrotate-sandbox/1', tableName, simulatedNow: clock.now() }, state);
}

/** Refuses `--adopt` of an unknown authority. */
function checkOptions(options: SandboxOptions): void {
  const unknown = (options.adopt ?? []).filter((name) => !options.config.authorities.some((authority) => authority.name === name));
  if (unknown.length > 0) throw new ValidationError(`--adopt names no authority of the configuration: ${unknown.join(', ')}`);
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  checkOptions(options);
  const files = sandboxFiles(options.dir);
  const tableName = files.meta?.tableName ?? 'certrotate-sandbox';
  const clock = new SimulatedClock(files.meta?.simulatedNow ?? Date.now(), options.speed);
  const env = await startEnvironment(options, files, tableName, clock).catch((error: unknown) => {
    files.release();
    throw error;
  });
  await env.awsTrust?.provision(options.config).catch(async (error: unknown) => {
    await env.stop();
    files.release();
    throw error;
  });
  const log = fileTools(join(options.dir, 'handlers.log'));
  const deps: HandlerDeps = {
    certificates: env.certificates,
    caKeys: env.kms.caKeys,
    state: env.state,
    ledger: new DynamoDbRequestLedger({ client: env.clients.dynamodb, tableName }),
    config: options.config,
    writeConcurrency: 16,
    ...(env.eks === undefined ? {} : { publisher: env.eks.publisher }),
    ...(env.awsTrust === undefined ? {} : { awsTrust: env.awsTrust.adapters }),
  };
  const scheduled = awaitingImport(options, deps);
  const handlerOptions = { clock, deps: () => deps, tools: log.tools };
  const scheduledOptions = { ...handlerOptions, deps: scheduled.deps };
  const save = () => saveState(files, env, tableName, clock);
  const region = env.secretsManager.region;
  const lambda = await startLocalLambda({
    functions: {
      [SANDBOX_FUNCTIONS.scan]: createScan(scheduledOptions),
      [SANDBOX_FUNCTIONS.advance]: createAdvance(scheduledOptions),
      [SANDBOX_FUNCTIONS.command]: reporting(createCommand(handlerOptions), clock, options.out, save),
    },
    region,
    credentials: env.secretsManager.credentials,
    ...(options.port === undefined ? {} : { port: options.port }),
    describe: () => ({
      sandbox: true,
      region,
      simulatedNow: new Date(clock.now()).toISOString(),
      speed: options.speed,
      config: options.configSource,
      functions: SANDBOX_FUNCTIONS,
      tableName,
      secretPrefix: 'certrotate',
      ...(env.leafBucket === undefined ? {} : { leafBucket: env.leafBucket.bucket }),
      endpoints: env.endpoints,
    }),
  });
  const run = async (invocation: ScheduledInvocation): Promise<void> => {
    await scheduled.refresh();
    const result: InvokeResult = await lambda.invoke(SANDBOX_FUNCTIONS[invocation.fn], invocation.event);
    const lines = describeInvocation(invocation, result, clock.now());
    for (const line of lines) options.out(line);
    if (lines.length > 0) save();
  };
  options.ready?.(lambda.endpoint);
  const scheduler = startScheduler({ clock, invoke: run, onError: (error) => options.out(`sandbox: scheduled run failed: ${error instanceof Error ? error.message : String(error)}`) });
  const saver = setInterval(save, 2_000);
  let stopped: Promise<void> | undefined;
  return {
    endpoint: lambda.endpoint,
    stop() {
      stopped ??= (async () => {
        clearInterval(saver);
        await scheduler.stop();
        await lambda.stop();
        save();
        await env.stop();
        await log.close();
        files.release();
      })();
      return stopped;
    },
  };
}

/**
 * The deps of the scheduled functions: the configuration without the authorities still awaiting
 * `import-ca` (`refresh` drops from that list each one that has a state by now).
 */
function awaitingImport(options: SandboxOptions, deps: HandlerDeps): { deps: () => HandlerDeps; refresh(): Promise<void> } {
  let waiting = [...(options.adopt ?? [])];
  let current = deps;
  return {
    deps: () => current,
    async refresh() {
      if (waiting.length === 0) return;
      const states = await Promise.all(waiting.map((name) => deps.state.readState(name)));
      waiting = waiting.filter((_, index) => states[index] === undefined);
      const config = { ...deps.config, authorities: deps.config.authorities.filter((authority) => !waiting.includes(authority.name)) };
      current = { ...deps, config: { ...config, leaves: config.leaves.filter((leaf) => !waiting.includes(leaf.authority)) } };
    },
  };
}

/** The command function, reporting each applied command as a line (and saving at once). */
function reporting(handler: (event: unknown, context: Context) => Promise<unknown>, clock: SimulatedClock, out: (line: string) => void, save: () => void) {
  return async (event: unknown, context: Context): Promise<unknown> => {
    const answer = await handler(event, context);
    const line = describeInvocation({ fn: 'command', event: {} }, { payload: answer }, clock.now())[0];
    if (line !== undefined) {
      out(line);
      save();
    }
    return answer;
  };
}
