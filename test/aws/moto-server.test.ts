/**
 * The moto launcher itself: a port another process took between finding it free and moto binding
 * it is given up for another, and the endpoint returned is moto's own, never the other process's.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startMoto, type MotoServer } from './moto-server.js';

let held: Server | undefined;
let moto: MotoServer | undefined;
afterEach(async () => {
  await moto?.stop();
  await new Promise<void>((resolve) => (held === undefined ? resolve() : held.close(() => resolve())));
  moto = undefined;
  held = undefined;
});

describe('startMoto', () => {
  it('gives up a port another process holds and answers on moto\'s own', { timeout: 120_000 }, async () => {
    // Another process's HTTP server: it answers /moto-api/ with 200 too, as a stray moto would.
    held = createServer((socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'));
    const taken = await new Promise<number>((resolve) => held?.listen(0, '127.0.0.1', () => resolve((held?.address() as AddressInfo).port)));
    const offered = [taken];
    moto = await startMoto({
      port: async () => {
        const next = offered.shift();
        if (next !== undefined) return next;
        const probe = createServer();
        await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
        const { port } = probe.address() as AddressInfo;
        await new Promise<void>((resolve) => probe.close(() => resolve()));
        return port;
      },
    });
    expect(moto.endpoint).not.toBe(`http://127.0.0.1:${taken}`);
    const answer = await fetch(`${moto.endpoint}/moto-api/`);
    expect(answer.ok).toBe(true);
    expect(await answer.text()).toMatch(/moto/i);
  });
});
