import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventBridgeEventSink, MAX_BYTES_PER_CALL, batches, entrySize, lazyEventBridgeClient, type EventEntry } from '../../lib/aws/eventbridge-event-sink.js';
import { DETAIL_TYPES } from '../../lib/aws/eventbridge-events.js';
import { startLocalEventBridge, type LocalEventBridge } from '../../lib/local/eventbridge/server.js';

let local: LocalEventBridge;
let entryFailures: Map<string, number>;
let down = false;

beforeAll(async () => {
  entryFailures = new Map();
  local = await startLocalEventBridge({
    region: 'eu-west-1',
    fault: () => (down ? { type: 'ServiceUnavailableException', message: 'EventBridge is down', status: 503 } : undefined),
    // An entry whose detail names a leaf in `entryFailures` fails that many times (InternalFailure), then goes through.
    entryFault: (entry) => {
      const leaf = (JSON.parse(String(entry.Detail)) as { leaf?: string }).leaf ?? '';
      const left = entryFailures.get(leaf) ?? 0;
      if (left === 0) return undefined;
      entryFailures.set(leaf, left - 1);
      return { code: 'InternalFailure', message: 'try again' };
    },
  });
});
afterAll(() => local.stop());
afterEach(() => {
  local.reset();
  entryFailures.clear();
  down = false;
});

function sink(options: Partial<ConstructorParameters<typeof EventBridgeEventSink>[0]> = {}) {
  const undelivered: { count: number; reason: string }[] = [];
  const events = new EventBridgeEventSink({
    client: lazyEventBridgeClient({ region: local.region, endpoint: local.endpoint, credentials: local.credentials }),
    backoffMs: 1,
    onUndelivered: (count, reason) => undelivered.push({ count, reason }),
    now: () => Date.UTC(2027, 0, 1),
    ...options,
  });
  return { events, undelivered };
}

describe('EventBridgeEventSink against the local EventBridge', () => {
  it('puts each engine event on the default bus with source certrotate and its documented detail type', async () => {
    const { events, undelivered } = sink();
    events.emit({ type: 'phase-changed', authority: 'cluster', detail: { from: 'Stable', to: 'Prepared', generation: 1, target: 2 } });
    events.emit({ type: 'leaf-reissued', authority: 'cluster', detail: { leaf: 'kube-apiserver', generation: 2 } });
    events.emit({ type: 'leaf-unissuable', authority: 'etcd', detail: { leaf: 'etcd-1', path: 'config.leaves[3]', problem: 'bad SAN' } });
    expect(local.events()).toEqual([]); // emit only buffers
    await events.flush();
    expect(undelivered).toEqual([]);
    expect(local.events().map((event) => [event.source, event.detailType, event.eventBusName, event.detail])).toEqual([
      ['certrotate', 'Rotation Phase Changed', 'default', { authority: 'cluster', from: 'Stable', to: 'Prepared', generation: 1, target: 2 }],
      ['certrotate', 'Leaf Renewed', 'default', { authority: 'cluster', leaf: 'kube-apiserver', generation: 2 }],
      ['certrotate', 'Leaf Unissuable', 'default', { authority: 'etcd', leaf: 'etcd-1', path: 'config.leaves[3]', problem: 'bad SAN' }],
    ]);
    expect(local.events()[0]?.time).toBe(Date.UTC(2027, 0, 1));
    expect(events.delivered).toBe(3);
  });

  it('sends 25 events in calls of at most 10', async () => {
    const { events } = sink({ concurrency: 1 });
    for (let i = 0; i < 25; i++) events.emit({ type: 'leaf-reissued', authority: 'cluster', detail: { leaf: `leaf-${i}` } });
    await events.flush();
    expect(local.calls()).toEqual([10, 10, 5]);
    expect(local.events().map((event) => event.detail.leaf)).toEqual(Array.from({ length: 25 }, (_, i) => `leaf-${i}`));
  });

  it('sends again only the entries a response marks failed (FailedEntryCount), until they go through', async () => {
    entryFailures.set('leaf-3', 2);
    const { events, undelivered } = sink();
    for (let i = 0; i < 5; i++) events.emit({ type: 'leaf-reissued', authority: 'cluster', detail: { leaf: `leaf-${i}` } });
    await events.flush();
    expect(local.calls()).toEqual([5, 1, 1]);
    expect(local.events().map((event) => event.detail.leaf).sort()).toEqual(['leaf-0', 'leaf-1', 'leaf-2', 'leaf-3', 'leaf-4']);
    expect(undelivered).toEqual([]);
  });

  it('reports what it could not deliver and still resolves when EventBridge is down', async () => {
    down = true;
    const { events, undelivered } = sink({ attempts: 3 });
    for (let i = 0; i < 12; i++) events.emit({ type: 'leaf-reissued', authority: 'cluster', detail: { leaf: `leaf-${i}` } });
    await expect(events.flush()).resolves.toMatchObject({ undelivered: 12 });
    expect(local.calls()).toHaveLength(6); // two batches, three attempts each
    expect(undelivered).toEqual([{ count: 12, reason: expect.stringMatching(/^PutEvents: ServiceUnavailableException: EventBridge is down/) as unknown }]);
    expect(events.pending).toBe(0);
  });

  it('gives up within its deadline when nothing answers at all', async () => {
    const { events, undelivered } = sink({ client: new EventBridgeClient({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', credentials: local.credentials, maxAttempts: 1 }), deadlineMs: 500, backoffMs: 50 });
    events.emit({ type: 'ca-generated', authority: 'cluster', detail: { generation: 2 } });
    const started = Date.now();
    await events.flush();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(undelivered).toEqual([{ count: 1, reason: expect.stringMatching(/^PutEvents: /) as unknown }]);
  });

  it('never sends text that looks like key material', async () => {
    const { events } = sink();
    const pem = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----';
    events.emit({ type: 'renewal-failed', authority: 'cluster', detail: { error: pem, nested: { key: 'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgXyZ12345' } } });
    await events.flush();
    const sent = JSON.stringify(local.events());
    expect(sent).not.toMatch(/BEGIN PRIVATE KEY|MIGHAgEAMBMG/);
    expect(local.events()[0]?.detail).toEqual({ authority: 'cluster', error: '[looks like key material: not sent]', nested: { key: '[looks like key material: not sent]' } });
  });

  it('names every engine event type with a detail type, and an unknown one in title case', async () => {
    const { events } = sink();
    events.emit({ type: 'some-new-event', authority: 'cluster', detail: {} });
    await events.flush();
    expect(local.events()[0]?.detailType).toBe('Some New Event');
    expect(new Set(Object.values(DETAIL_TYPES)).size).toBe(Object.keys(DETAIL_TYPES).length);
  });

  it('has a documented detail type for every event type the engine and consumers emit', () => {
    const emitted = new Set<string>();
    for (const folder of ['lib/engine', 'lib/consumers']) {
      for (const file of readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts'))) {
        for (const match of readFileSync(join(folder, file), 'utf8').matchAll(/emit\(\{\s*type: '([a-z-]+)'/g)) emitted.add(match[1] ?? '');
      }
    }
    expect(emitted.size).toBeGreaterThan(10);
    expect([...emitted].filter((type) => DETAIL_TYPES[type] === undefined)).toEqual([]);
  });
});

describe('batches', () => {
  const entry = (bytes: number): EventEntry => ({ Source: 'certrotate', DetailType: 'Leaf Renewed', Detail: JSON.stringify({ pad: 'x'.repeat(bytes) }) });

  it('keeps each call within 256 KB and refuses a single entry over it', () => {
    const big = entry(100 * 1024);
    const { calls, oversized } = batches([big, big, big, entry(300 * 1024), entry(10)]);
    expect(calls.map((call) => call.length)).toEqual([2, 2]);
    for (const call of calls) expect(call.reduce((sum, e) => sum + entrySize(e), 0)).toBeLessThanOrEqual(MAX_BYTES_PER_CALL);
    expect(oversized).toHaveLength(1);
  });
});
