/**
 * The sandbox with an authority on `leafStore: s3`: its leaves live in the sandbox's local leaf
 * bucket, whose objects (every version, with its id and ETag) are kept in the sandbox directory
 * (`leaf-bucket.json`, owner-only), so a restart resumes with the leaves in S3.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { LOCAL_CREDENTIALS } from '../../lib/local/kit/aws-error.js';
import { startSandbox, type Sandbox } from '../../lib/local/sandbox/sandbox.js';

const config = parseConfig({
  renewal: { renewBeforeHours: 24, jitterMinutes: 30 },
  authorities: [{ name: 'edge', leafStore: 's3', caLifetimeDays: 30, rotationLeadDays: 28, soakHours: { trustExpanded: 1, leavesMigrated: 1 } }],
  leaves: [
    { authority: 'edge', id: 'api', subject: 'CN=api', dnsNames: ['api.internal'], usage: 'server', lifetimeDays: 2 },
    { authority: 'edge', id: 'worker', subject: 'CN=worker', usage: 'client', lifetimeDays: 3 },
  ],
});
const KEYS = ['certrotate/edge/leaf/api', 'certrotate/edge/leaf/worker'];
const dir = mkdtempSync(join(tmpdir(), 'certrotate-sandbox-s3-'));
const sandboxDir = join(dir, 'sandbox');
const running: Sandbox[] = [];

afterAll(async () => {
  await Promise.all(running.map((sandbox) => sandbox.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a sandbox on the directory; resolves once `pattern` is printed (from the start of this run). */
async function start(speed: number, lines: string[]) {
  const sandbox = await startSandbox({ dir: sandboxDir, speed, config, configSource: 'test', out: (line) => lines.push(line) });
  running.push(sandbox);
  const described = (await (await fetch(sandbox.endpoint)).json()) as { leafBucket: string; endpoints: { s3: string }; region: string };
  const s3 = new S3Client({ region: described.region, endpoint: described.endpoints.s3, forcePathStyle: true, credentials: { ...LOCAL_CREDENTIALS } });
  return { sandbox, s3, bucket: described.leafBucket };
}

async function waitFor(lines: string[], pattern: RegExp, from: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!lines.slice(from).some((line) => pattern.test(line))) {
    if (Date.now() > deadline) throw new Error(`no line matched ${String(pattern)} in ${timeoutMs} ms:\n${lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Each leaf object's current version id and ETag. */
async function current(s3: S3Client, bucket: string): Promise<Map<string, { versionId: string; etag: string }>> {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'certrotate/edge/leaf/' }));
  const found = new Map<string, { versionId: string; etag: string }>();
  for (const { Key } of listed.Contents ?? []) {
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
    await object.Body?.transformToString();
    found.set(String(Key), { versionId: String(object.VersionId), etag: String(object.ETag) });
  }
  return found;
}

describe('the sandbox and leafStore s3', () => {
  it('keeps an s3 authority\'s leaves in its local leaf bucket across a restart: the same object versions are read back, and renewal goes on in S3', async () => {
    const lines: string[] = [];
    const first = await start(40_000, lines);
    await waitFor(lines, /edge: LeavesMigrated -> Stable/, 0, 60_000);
    await waitFor(lines, /edge: scan renewed \d+ leaf/, 0, 60_000);
    const before = await current(first.s3, first.bucket);
    expect([...before.keys()]).toEqual(KEYS);
    first.s3.destroy();
    await first.sandbox.stop();
    running.pop();
    // The leaves are in the bucket's file, owner-only (private keys), and not in any secret.
    expect(statSync(join(sandboxDir, 'leaf-bucket.json')).mode & 0o777).toBe(0o600);
    // secrets.json holds leaf keys of secretsmanager authorities and CA keys kept as PEM: owner-only too.
    expect(statSync(join(sandboxDir, 'secrets.json')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(sandboxDir, 'secrets.json'), 'utf8')).not.toContain('edge/leaf/');

    const from = lines.length;
    const second = await start(40_000, lines);
    // Every version written before the stop is still there, under the same id and ETag.
    for (const [Key, { versionId, etag }] of before) {
      const object = await second.s3.send(new GetObjectCommand({ Bucket: second.bucket, Key, VersionId: versionId }));
      await object.Body?.transformToString();
      expect(object.ETag).toBe(etag);
    }
    await waitFor(lines, /edge: scan renewed \d+ leaf/, from, 60_000);
    const after = await current(second.s3, second.bucket);
    expect([...after.keys()]).toEqual(KEYS);
    expect([...after].some(([key, version]) => version.versionId !== before.get(key)?.versionId)).toBe(true);
    expect(lines.slice(from).join('\n')).not.toMatch(/bootstrapped|failed/);
    second.s3.destroy();
  }, 150_000);
});
