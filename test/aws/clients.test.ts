import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAwsClients } from '../../lib/aws/clients.js';
import { secretsManagerReadLimiters } from '../../lib/aws/read-limiters.js';
import { SecretsManagerCertificateStore } from '../../lib/aws/secrets-manager-store.js';
import { WriteLimiter } from '../../lib/aws/write-limiter.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import type { InjectedFault } from '../../lib/local/secrets-manager-server.js';

let env: LocalEnvironment;
let fault: ((operation: string) => InjectedFault | undefined) | undefined;
const calls: string[] = [];

beforeAll(async () => {
  env = await startLocalEnvironment({
    faults: (operation) => {
      calls.push(operation);
      return fault?.(operation);
    },
  });
});
afterAll(() => env.stop());

/** A fault for the first `times` calls of `operation`, then none. */
function failing(operation: string, times: number, injected: InjectedFault): (op: string) => InjectedFault | undefined {
  let left = times;
  return (op) => (op === operation && left-- > 0 ? injected : undefined);
}

describe('AWS clients: every call retried and bounded', () => {
  it('retries a read that is throttled, then 500ed, and gets the value (the read limiter retries, once per retry)', async () => {
    await env.certificates.writeBundle('retries', 'bundle-v1');
    calls.length = 0;
    let served = 0;
    const throttleThen500 = (op: string): InjectedFault | undefined => {
      if (op !== 'GetSecretValue' || served++ >= 2) return undefined;
      return served === 1 ? { type: 'ThrottlingException', message: 'Rate exceeded' } : { type: 'InternalServiceError', message: 'boom', status: 500 };
    };
    fault = throttleThen500;
    expect(await env.certificates.readBundle('retries')).toBe('bundle-v1');
    fault = undefined;
    expect(calls.filter((op) => op === 'GetSecretValue').length).toBe(3);
  });

  it('leaves write retries to the write limiter: a throttled write is sent again by it, once per retry, never multiplied by the SDK', async () => {
    calls.length = 0;
    fault = failing('PutSecretValue', 2, { type: 'ThrottlingException', message: 'Rate exceeded' });
    await env.certificates.writeBundle('retries', 'bundle-v2');
    fault = undefined;
    expect(calls.filter((op) => op === 'PutSecretValue').length).toBe(3);
    expect(await env.certificates.readBundle('retries')).toBe('bundle-v2');
  });

  it('gives up on an endpoint that never answers within its timeouts, instead of holding the run', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const clients = createAwsClients({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      endpoints: { secretsManager: `http://127.0.0.1:${address.port}` },
      timeouts: { connectMs: 200, requestMs: 250 },
    });
    // Secrets Manager reads are retried by the store's read limiter (the client makes one attempt).
    const store = new SecretsManagerCertificateStore({ client: clients.secretsManager, writeLimiter: new WriteLimiter(), readLimiters: secretsManagerReadLimiters() });
    const started = Date.now();
    try {
      await expect(store.readBundle('x')).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(sockets.length).toBeGreaterThan(1);
    } finally {
      clients.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
