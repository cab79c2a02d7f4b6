import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.js';
import { startSandbox } from '../../lib/local/sandbox/sandbox.js';
import { fleetConfig } from '../support/fleet.js';

describe('the sandbox and leafStore s3', () => {
  it('refuses a configuration with an s3 authority before starting anything, naming it and the fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'certrotate-sandbox-s3-'));
    try {
      const start = startSandbox({ dir: join(dir, 'sandbox'), speed: 1, config: fleetConfig({ leaves: 2, leafStore: 's3' }), configSource: 'test', out: () => undefined });
      await expect(start).rejects.toThrow(ValidationError);
      await expect(start).rejects.toThrow(/authorities cluster have leafStore "s3": leave leafStore out/);
      expect(existsSync(join(dir, 'sandbox', 'handlers.log'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
