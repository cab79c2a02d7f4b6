/**
 * moto (`python3 -m moto.server`), an independent AWS emulator, on a free loopback port: the
 * adapters' tests run against it as a check on our own local endpoints. moto missing is a failure,
 * never a skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

export interface MotoServer {
  /** `http://127.0.0.1:PORT`, for an SDK client's `endpoint`. */
  endpoint: string;
  stop(): Promise<void>;
}

const STARTUP_MS = 60_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startMoto(): Promise<MotoServer> {
  const check = spawnSync('python3', ['-c', 'import moto'], { encoding: 'utf8' });
  if (check.status !== 0) {
    throw new Error(`moto is required for these tests, but \`python3 -c 'import moto'\` failed: ${check.error?.message ?? check.stderr.trim()}`);
  }
  const port = await freePort();
  const child = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-2_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + STARTUP_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`moto.server exited with ${child.exitCode}: ${output}`);
    const ready = await fetch(`${endpoint}/moto-api/`).then((answer) => answer.ok, () => false);
    if (ready) return { endpoint, stop };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`moto.server did not answer on ${endpoint} within ${STARTUP_MS} ms: ${output}`);
}
