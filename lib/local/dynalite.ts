import { listenOnLoopback } from './kit/http.js';
import dynalite from 'dynalite';

export interface LocalDynamoDB {
  /** `http://127.0.0.1:<port>`: pass as the DynamoDB client's `endpoint`. */
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts dynalite in this process on 127.0.0.1, in memory, with table create/update/delete taking
 * no time (so tests and the local run never wait for a table to become ACTIVE). Port 0, the
 * default, picks a free port.
 */
export async function startLocalDynamoDB(options: { port?: number } = {}): Promise<LocalDynamoDB> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const port = await listenOnLoopback(server, options.port ?? 0);
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop() {
      // Idempotent: a second stop (e.g. a test's afterAll after a failed test) waits for the first.
      stopped ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets from SDK clients would otherwise hold close() open.
        server.closeIdleConnections();
      });
      return stopped;
    },
  };
}
