import { readFileSync } from 'node:fs';
import { expect, vi } from 'vitest';
import type { Context } from 'aws-lambda';
import { createHandler as createAdvance } from '../../functions/advance.js';
import { createHandler as createCommand } from '../../functions/command.js';
import { createHandler as createScan } from '../../functions/scan.js';
import type { CertrotateConfig } from '../../lib/config/index.js';
import type { HandlerDeps } from '../../lib/handlers/compose.js';
import { DynamoDbRequestLedger } from '../../lib/aws/dynamodb-request-ledger.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import type { CertificateStore, StoredCa, StoredLeaf } from '../../lib/ports.js';
import { EventBridgeEventSink, lazyEventBridgeClient } from '../../lib/aws/eventbridge-event-sink.js';
import { startLocalEventBridge, type LocalEventBridge } from '../../lib/local/eventbridge/server.js';

export function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../fixtures/events/${name}`, import.meta.url), 'utf8'));
}

let invocation = 0;

/** A Lambda context with a fixed time budget (the simulated clock does not move it). */
export function lambdaContext(functionName: string, remainingMs = 300_000): Context {
  invocation++;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: `00000000-0000-4000-8000-${String(invocation).padStart(12, '0')}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/01/01/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Records every private key written through the store: each one issued during a test. */
export function recordingStore(store: CertificateStore, keys: Set<string>): CertificateStore {
  return {
    listCaGenerations: (authority) => store.listCaGenerations(authority),
    readCa: (authority, generation) => store.readCa(authority, generation),
    async createCa(ca: StoredCa) {
      // A CA whose key is in KMS has no private key to record.
      if (ca.privateKeyPem !== undefined) keys.add(ca.privateKeyPem);
      const stored = await store.createCa(ca);
      if (stored.privateKeyPem !== undefined) keys.add(stored.privateKeyPem);
      return stored;
    },
    readBundle: (authority) => store.readBundle(authority),
    writeBundle: (authority, bundlePem) => store.writeBundle(authority, bundlePem),
    listLeafIds: (authority) => store.listLeafIds(authority),
    readLeaves: (authority, ids) => store.readLeaves(authority, ids),
    writeLeaf(leaf: StoredLeaf, previousVersionId?: string) {
      keys.add(leaf.privateKeyPem);
      return store.writeLeaf(leaf, previousVersionId);
    },
  };
}

export interface Harness {
  env: LocalEnvironment;
  deps: HandlerDeps;
  clock: { now: () => number; set: (ms: number) => void; advance: (ms: number) => void };
  scan: ReturnType<typeof createScan>;
  advance: ReturnType<typeof createAdvance>;
  command: ReturnType<typeof createCommand>;
  /** Every private key issued through the handlers so far. */
  keys: Set<string>;
  /** The local EventBridge the handlers put their events on. */
  eventBridge: LocalEventBridge;
  stop(): Promise<void>;
}

export async function startHarness(config: CertrotateConfig, start: number): Promise<Harness> {
  const env = await startLocalEnvironment();
  const eventBridge = await startLocalEventBridge({ region: 'eu-west-1' });
  const keys = new Set<string>();
  const deps: HandlerDeps = {
    certificates: recordingStore(env.certificates, keys),
    state: env.state,
    ledger: new DynamoDbRequestLedger({ client: env.clients.dynamodb, tableName: env.tableName }),
    config,
    writeConcurrency: 16,
    eventBus: new EventBridgeEventSink({
      client: lazyEventBridgeClient({ region: eventBridge.region, endpoint: eventBridge.endpoint, credentials: eventBridge.credentials }),
    }),
  };
  let now = start;
  const clock = { now: () => now, set: (ms: number) => void (now = ms), advance: (ms: number) => void (now += ms) };
  const options = { clock, deps: () => deps };
  return { env, deps, clock, keys, scan: createScan(options), advance: createAdvance(options), command: createCommand(options), eventBridge, stop: async () => void (await Promise.all([env.stop(), eventBridge.stop()])) };
}

/** Captures everything written to stdout and stderr (Powertools logs and EMF metrics go there). */
export function captureOutput(): { text: () => string; lines: () => unknown[]; restore: () => void } {
  const chunks: string[] = [];
  const capture = (chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  return {
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line.trim().startsWith('{'))
        .map((line): unknown => JSON.parse(line)),
    restore: () => {
      out.mockRestore();
      err.mockRestore();
    },
  };
}

/** Asymmetric matchers typed as unknown, so they sit in object literals without `any`. */
export const like = {
  text: (pattern: RegExp | string): unknown => (typeof pattern === 'string' ? expect.stringContaining(pattern) : expect.stringMatching(pattern)),
  number: (): unknown => expect.any(Number),
  string: (): unknown => expect.any(String),
  arrayContaining: (items: unknown[]): unknown => expect.arrayContaining(items),
  objectContaining: (fields: Record<string, unknown>): unknown => expect.objectContaining(fields),
};

/** The dynalite URL the local environment's DynamoDB client points at. */
export async function endpointOf(local: LocalEnvironment): Promise<string> {
  const endpoint = await local.clients.dynamodb.config.endpoint?.();
  if (endpoint === undefined) throw new Error('the local DynamoDB client has no endpoint');
  return `${endpoint.protocol}//${endpoint.hostname}:${endpoint.port ?? ''}`;
}
