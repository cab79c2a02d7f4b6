/**
 * The sandbox on the example configuration (no --config): its AWS trust targets (an ELBv2 trust
 * store, an API Gateway domain, an ACM certificate on `cluster`) and its EKS Secret are real local
 * consumers, provisioned at start, published to and named by `certrotate status`; not kept across
 * a restart, they are published to again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, eventually, json, startSandbox, type RunningSandbox } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'certrotate-cli-consumers-'));
let sandbox: RunningSandbox;

beforeAll(async () => {
  sandbox = await startSandbox(['--dir', join(dir, 'sandbox'), '--speed', '3600']);
  await sandbox.waitFor(/cluster: Stable -> Stable \(bootstrapped/, 60_000);
}, 90_000);

afterAll(async () => {
  await sandbox.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('certrotate sandbox with the example configuration', () => {
  it('publishes to its trust store, API Gateway domain and ACM certificate, and status names them', async () => {
    const env = { CERTROTATE_ENDPOINT: sandbox.endpoint };
    const [human, document] = await Promise.all([cli(['status', 'cluster'], env), cli(['status', 'cluster', '--json'], env)]);
    expect(human.code).toBe(0);
    const cluster = (json(document).authorities as Record<string, unknown>[])[0];
    expect(cluster).toMatchObject({ generation: 1, phase: 'Stable', attention: { needed: false } });
    const consumers = cluster?.consumers as { total: number; holdingBundle: number; names: string[] };
    expect(consumers.holdingBundle).toBe(consumers.total);
    const names = consumers.names.join('\n');
    expect(names).toMatch(/certrotate-clients/);
    expect(names).toMatch(/api\.example\.com/);
    expect(names).toMatch(/ACM certificate 00000000-0000-4000-8000-000000000000 .*serving leaf kube-apiserver/);
    expect(names).toMatch(/platform/);
    expect(human.stdout).toMatch(/^ {2}consumers: .*certrotate-clients.*api\.example\.com/m);
  }, 60_000);

  it('after a restart, the local trust targets start empty and are published to again', async () => {
    await sandbox.stop();
    sandbox = await startSandbox(['--dir', join(dir, 'sandbox'), '--speed', '3600']);
    const env = { CERTROTATE_ENDPOINT: sandbox.endpoint };
    const cluster = await eventually(
      async () => (json(await cli(['status', 'cluster', '--json'], env)).authorities as Record<string, unknown>[])[0] ?? {},
      (status) => (status.consumers as { holdingBundle: number; total: number }).holdingBundle === (status.consumers as { total: number }).total,
      60_000,
    );
    expect(cluster).toMatchObject({ generation: 1, phase: 'Stable', consumers: { laggards: [] } });
    expect((cluster.consumers as { names: string[] }).names).toHaveLength(4);
  }, 90_000);
});
