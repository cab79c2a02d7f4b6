import { afterEach, describe, expect, it } from 'vitest';
import { EventBridgeEventSink, lazyEventBridgeClient } from '../../lib/aws/eventbridge-event-sink.js';
import { eventBusFor } from '../../lib/handlers/compose.js';
import { readHandlerEnv, type HandlerEnv } from '../../lib/handlers/env.js';
import { fleetConfig } from '../support/fleet.js';
import { T0 } from '../support/pki.js';
import { captureOutput, fixture, lambdaContext, startHarness, type Harness } from './support.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.stop();
  harness = undefined;
});

describe('EventBridge events from the handlers', () => {
  it('are on the bus when the handler returns: a Leaf Renewed per leaf issued, a Rotation Phase Changed per transition', async () => {
    harness = await startHarness(fleetConfig({ leaves: 4, caKeyStore: 'secret' }), T0);
    const h = harness;
    const leafIds = h.deps.config.leaves.filter((leaf) => leaf.authority === 'cluster').map((leaf) => leaf.id);
    const output = captureOutput();
    try {
      await h.advance(fixture('advance.v1.json'), lambdaContext('certrotate-advance'));
      const renewed = h.eventBridge.events().filter((event) => event.detailType === 'Leaf Renewed' && event.detail.authority === 'cluster');
      expect(renewed.map((event) => event.detail.leaf).sort()).toEqual([...leafIds].sort());
      expect(renewed[0]?.detail).toEqual({ authority: 'cluster', leaf: expect.any(String) as unknown, generation: 1, notAfter: expect.stringMatching(/^\d{4}-/) as unknown, serialHex: expect.stringMatching(/^[0-9a-f]+$/) as unknown });

      h.eventBridge.reset();
      await h.command(fixture('command.rotate-ca.v1.json'), lambdaContext('certrotate-command'));
      const changed = h.eventBridge.events().filter((event) => event.detailType === 'Rotation Phase Changed');
      expect(changed).toHaveLength(1);
      expect(changed[0]?.detail).toMatchObject({ authority: 'cluster', from: 'Stable', to: 'Prepared', generation: 1, by: 'rotate-ca', requestId: expect.any(String) as unknown });
      expect(changed.every((event) => event.source === 'certrotate' && event.eventBusName === 'default')).toBe(true);
    } finally {
      output.restore();
    }
  });

  it('never fail a run when EventBridge is down: the run answers as usual, with a warning and the EventsNotDelivered metric', async () => {
    harness = await startHarness(fleetConfig({ leaves: 4, caKeyStore: 'secret' }), T0);
    const h = harness;
    h.deps.eventBus = new EventBridgeEventSink({
      client: lazyEventBridgeClient({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', credentials: h.eventBridge.credentials }),
      deadlineMs: 1_000,
      backoffMs: 50,
    });
    const output = captureOutput();
    let answer: unknown;
    try {
      answer = await h.advance(fixture('advance.v1.json'), lambdaContext('certrotate-advance'));
    } finally {
      output.restore();
    }
    expect(answer).toMatchObject({ ok: true });
    expect((await h.env.state.readState('cluster'))?.state.phase).toBe('Stable');
    const lines = output.lines() as Record<string, unknown>[];
    expect(lines.some((line) => typeof line.message === 'string' && /events could not be put on EventBridge; the run itself is unaffected/.test(line.message))).toBe(true);
    const metric = lines.find((line) => '_aws' in line && 'EventsNotDelivered' in line);
    expect(metric?.EventsNotDelivered).toBeGreaterThan(0);
  });
});

describe('which deployments put events on EventBridge', () => {
  const env = (endpoints: HandlerEnv['endpoints']): HandlerEnv => ({ tableName: 't', secretPrefix: 'certrotate', kmsKeyId: undefined, caKeyPolicy: undefined, writesPerSecond: 20, region: 'eu-west-1', endpoints, config: fleetConfig({ leaves: 1 }) });

  it('in AWS, and locally only where a local EventBridge is named; never a real bus from a local run', () => {
    expect(eventBusFor(env({})).eventBus).toBeInstanceOf(EventBridgeEventSink);
    expect(eventBusFor(env({ sts: 'https://sts.eu-west-1.amazonaws.com' })).eventBus).toBeInstanceOf(EventBridgeEventSink);
    expect(eventBusFor(env({ dynamodb: 'http://127.0.0.1:1', secretsManager: 'http://127.0.0.1:2' })).eventBus).toBeUndefined();
    expect(eventBusFor(env({ dynamodb: 'http://127.0.0.1:1', events: 'http://127.0.0.1:3' })).eventBus).toBeInstanceOf(EventBridgeEventSink);
  });

  it('reads CERTROTATE_EVENTS_ENDPOINT as the local EventBridge', () => {
    const base = { AWS_REGION: 'eu-west-1', CERTROTATE_TABLE_NAME: 'table', CERTROTATE_CONFIG: JSON.stringify({ authorities: [], leaves: [] }) };
    expect(readHandlerEnv({ ...base, CERTROTATE_EVENTS_ENDPOINT: 'http://127.0.0.1:4010' }).endpoints).toEqual({ events: 'http://127.0.0.1:4010' });
    expect(() => readHandlerEnv({ ...base, CERTROTATE_EVENTS_ENDPOINT: 'nope' })).toThrow(/CERTROTATE_EVENTS_ENDPOINT: .*http/);
  });
});
