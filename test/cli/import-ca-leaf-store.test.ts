/**
 * `certrotate import-ca` into an authority on `leafStore: s3`: against a sandbox, the leaves already
 * in its leaf bucket (certrotate's layout) are adopted and status shows them; against AWS, the
 * leaf bucket must be named (--leaf-bucket, the stack's LeafBucketName output).
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../lib/local/kit/aws-error.js';
import { opensslCa, opensslLeaf } from '../../lib/simulation/openssl.js';
import { cli, json, startSandbox, type RunningSandbox } from './support.js';

const DAY = 86_400_000;
const CONFIG = {
  renewal: { renewBeforeHours: 24, jitterMinutes: 60 },
  authorities: [{ name: 'adopted', leafStore: 's3', algorithm: 'p256', caLifetimeDays: 365, rotationLeadDays: 30, soakHours: { trustExpanded: 1, leavesMigrated: 1 } }],
  leaves: [
    { authority: 'adopted', id: 'web', subject: 'CN=web', dnsNames: ['web.internal'], usage: 'server', lifetimeDays: 20 },
    { authority: 'adopted', id: 'job', subject: 'CN=job', usage: 'client', lifetimeDays: 20 },
  ],
};

const dir = mkdtempSync(join(tmpdir(), 'certrotate-import-s3-'));
const configFile = join(dir, 'config.json');
writeFileSync(configFile, JSON.stringify(CONFIG));
let sandbox: RunningSandbox | undefined;

afterAll(async () => {
  await sandbox?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('certrotate import-ca and leafStore s3', () => {
  it('against AWS, asks for the leaf bucket of an s3 authority before any call', async () => {
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    const args = ['import-ca', '--authority', 'adopted', '--cert', join(dir, 'ca.pem'), '--key', join(dir, 'ca.pem'), '--table', 'certrotate-state', '--config', configFile, '--region', 'eu-west-1'];
    const run = await cli(args, { CERTROTATE_ENDPOINT: undefined });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/authority adopted has leafStore "s3": its leaves are adopted from the leaf bucket: against AWS pass --leaf-bucket NAME \(the stack's LeafBucketName output\)/);
    const help = await cli(['import-ca', '--help']);
    expect(help.stdout).toMatch(/--leaf-bucket BUCKET/);
  }, 60_000);

  it('against a sandbox, adopts the leaves in its leaf bucket: rows written, status shows them, a retry answers the same', async () => {
    sandbox = await startSandbox(['--dir', join(dir, 'sandbox'), '--speed', '3600', '--config', configFile, '--adopt', 'adopted']);
    const env = { CERTROTATE_ENDPOINT: sandbox.endpoint };
    const described = (await (await fetch(sandbox.endpoint)).json()) as { region: string; leafBucket: string; endpoints: { s3: string } };
    const s3 = new S3Client({ region: described.region, endpoint: described.endpoints.s3, forcePathStyle: true, credentials: { ...LOCAL_CREDENTIALS } });
    try {
      const ca = await opensslCa({ subject: 'CN=kubernetes', at: Date.now() - 30 * DAY, days: 3650, key: 'p256' });
      const leaf = await opensslLeaf(ca, { subject: 'CN=web', dnsNames: ['web.internal'], usage: 'server', at: Date.now() - DAY, days: 20, serialHex: '5a000000000000000000000000000001' });
      // The leaf as certrotate lays it out: one object per leaf, the leaf secret's JSON.
      const Key = 'certrotate/adopted/leaf/web';
      const body = JSON.stringify({ 'tls.crt': leaf.certificatePem, 'tls.key': leaf.privateKeyPem, 'ca.crt': ca.certificatePem });
      const seeded = await s3.send(new PutObjectCommand({ Bucket: described.leafBucket, Key, Body: body, ContentType: 'application/json' }));
      writeFileSync(join(dir, 'ca.crt'), ca.certificatePem);
      writeFileSync(join(dir, 'ca.key'), ca.privateKeyPem, { mode: 0o600 });
      const importArgs = ['import-ca', '--authority', 'adopted', '--cert', join(dir, 'ca.crt'), '--key', join(dir, 'ca.key')];

      const imported = await cli([...importArgs, '--json'], env);
      expect(imported.code, imported.stderr).toBe(0);
      expect(json(imported)).toMatchObject({ ok: true, authority: 'adopted', generation: 1, adoptedLeaves: ['web'] });
      const again = await cli(importArgs, env);
      expect(again.code).toBe(0);
      // The retry answers what the CA signs by now: web, and job if a scan has issued it meanwhile.
      expect(again.stdout).toMatch(/adopted: imported CA as generation 1 .*; adopted [12] leaves/);

      // The schedule scans the authority from now on: it issues job (missing) into the bucket, keeps web.
      // Read status once that scan has run (an hourly scan is a second of real time at this speed).
      const readStatus = async () => (json(await cli(['status', 'adopted', '--json'], env)).authorities as Record<string, unknown>[])[0];
      let status = await readStatus();
      for (let tries = 0; tries < 30; tries++) {
        const counts = status?.leaves as { total: number; fromSigner: number } | undefined;
        if (counts !== undefined && counts.fromSigner === counts.total) break;
        await new Promise((resolve) => setTimeout(resolve, 1000));
        status = await readStatus();
      }
      expect(status).toMatchObject({ generation: 1, phase: 'Stable', bundle: [1], signer: 1 });
      const leaves = status?.leaves as { total: number; fromSigner: number };
      expect(leaves.fromSigner).toBeGreaterThanOrEqual(1);
      expect(leaves.fromSigner).toBe(leaves.total);
      const rows = json(await cli(['check-expiration', 'adopted', '--json'], env)).rows as Record<string, unknown>[];
      const seededNotAfter = new Date(new X509Certificate(leaf.certificatePem).validTo).toISOString();
      expect(rows.find((row) => row.kind === 'leaf' && row.name === 'web')).toMatchObject({ generation: 1, notAfter: seededNotAfter, state: 'ok' });
      // The adopted leaf is the object in the bucket, not a copy: the same version is still current.
      const current = await s3.send(new GetObjectCommand({ Bucket: described.leafBucket, Key }));
      expect([await current.Body?.transformToString(), current.VersionId]).toEqual([body, seeded.VersionId]);
      for (const result of [imported, again]) expect(result.stdout + result.stderr).not.toMatch(/PRIVATE KEY/);
    } finally {
      s3.destroy();
    }
  }, 120_000);
});
