/** Small pieces every local endpoint needs. */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';

/** Listens on 127.0.0.1 (port 0: a free one) and resolves with the port bound. */
export async function listenOnLoopback(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('The local endpoint did not bind a TCP port.');
  return address.port;
}

/** SigV4's `20240102T030405Z` to epoch ms; undefined when malformed. */
export function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  if (y === undefined || mo === undefined || d === undefined || h === undefined || mi === undefined || s === undefined) return undefined;
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

/** A request's whole body; past `limit.maxBytes` it throws `limit.tooLarge()` (the endpoint's own error shape). */
export async function readBody(req: AsyncIterable<unknown>, limit?: { maxBytes: number; tooLarge: () => Error }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (limit !== undefined && size > limit.maxBytes) throw limit.tooLarge();
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** A header's value, repeated ones joined with commas as HTTP folds them. */
export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Closes the server and every connection it holds (keep-alive sockets would hold close() open). */
export function closeServer(server: HttpServer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.closeAllConnections();
    server.close((error) => (error === undefined ? resolve() : reject(error)));
  });
}
