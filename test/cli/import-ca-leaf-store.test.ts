import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from './support.js';

describe('certrotate import-ca and leafStore s3', () => {
  it('refuses an authority on leafStore s3 before any call, saying how to adopt it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'certrotate-import-s3-'));
    try {
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({ authorities: [{ name: 'adopted', leafStore: 's3' }], leaves: [{ authority: 'adopted', id: 'web', subject: 'CN=web', usage: 'server', lifetimeDays: 20 }] }));
      writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
      const run = await cli(['import-ca', '--authority', 'adopted', '--cert', join(dir, 'ca.pem'), '--key', join(dir, 'ca.pem'), '--table', 'certrotate-state', '--config', config, '--region', 'eu-west-1'], { CERTROTATE_ENDPOINT: undefined });
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/authority adopted has leafStore "s3": import with the leaves in their secrets/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
