/**
 * moto (`python3 -m moto.server`), an independent AWS emulator, on a free loopback port: the
 * adapters' tests run against it as a check on our own local endpoints. moto missing is a failure,
 * never a skip.
 *
 * A free port is found by binding and closing it, so another process may take it before moto
 * binds it; moto then exits ("Address already in use") while the other process answers on the
 * port. The server counts as started only once the port's listening socket is moto's own (Linux:
 * one of the child's file descriptors is that socket), and a lost port is retried with another.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';

export interface MotoServer {
  /** `http://127.0.0.1:PORT`, for an SDK client's `endpoint`. */
  endpoint: string;
  stop(): Promise<void>;
}

const STARTUP_MS = 60_000;
/** Ports tried before giving up: each loss is another process binding the port first. */
const PORT_ATTEMPTS = 5;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Socket inodes listening on 127.0.0.1:`port` (/proc/net/tcp: local address hex, state 0A = LISTEN, inode). */
function listeningInodes(port: number): Set<string> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[3] === '0A' && fields[9] !== undefined) inodes.add(fields[9]);
  }
  return inodes;
}

/** Whether process `pid` holds the socket listening on 127.0.0.1:`port`. */
function listensOn(pid: number, port: number): boolean {
  const inodes = listeningInodes(port);
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
    } catch {
      return false;
    }
  });
}

/** Starts moto on `port`; undefined when another process held the port. */
async function startOn(port: number): Promise<MotoServer | undefined> {
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
    if (child.exitCode !== null) {
      if (output.includes('Address already in use') || output.includes('is in use by another program')) return undefined;
      throw new Error(`moto.server exited with ${child.exitCode}: ${output}`);
    }
    const ready = child.pid !== undefined && listensOn(child.pid, port) && (await fetch(`${endpoint}/moto-api/`).then((answer) => answer.ok, () => false));
    if (ready) return { endpoint, stop };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`moto.server did not answer on ${endpoint} within ${STARTUP_MS} ms: ${output}`);
}

/** `port` chooses the ports to try (a free one each time by default). */
export async function startMoto(options: { port?: () => Promise<number> } = {}): Promise<MotoServer> {
  const check = spawnSync('python3', ['-c', 'import moto'], { encoding: 'utf8' });
  if (check.status !== 0) {
    throw new Error(`moto is required for these tests, but \`python3 -c 'import moto'\` failed: ${check.error?.message ?? check.stderr.trim()}`);
  }
  const nextPort = options.port ?? freePort;
  const lost: number[] = [];
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await nextPort();
    const started = await startOn(port);
    if (started !== undefined) return started;
    lost.push(port);
  }
  throw new Error(`moto.server lost every port it was given to another process: ${lost.join(', ')}`);
}
