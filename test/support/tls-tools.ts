/**
 * Drives other TLS stacks (OpenSSL's s_server/s_client, GnuTLS's gnutls-serv/gnutls-cli) through
 * one mutual-TLS handshake over loopback, judged at a chosen instant: OpenSSL through `-attime`,
 * GnuTLS (which reads the clock) with libfaketime from the `faketime` Debian package.
 *
 * A handshake counts as complete only when application data went both ways: the client's line
 * reached the server and the server's reply (or echo) reached the client. Both sides verify and
 * abort on a verification failure, and the server requires a client certificate, so data in both
 * directions proves that each side accepted the other's chain. Every process runs in its own
 * process group, under a deadline, and is killed (by group id) when the handshake is over.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What one side presents and trusts: PEM file paths. */
export interface TlsSide {
  /** The leaf first, then any chain. */
  cert?: string;
  key?: string;
  /** The bundle this side trusts for its peer. */
  ca: string;
}

export interface HandshakeResult {
  ok: boolean;
  /** Why it failed, with both tools' output, for the assertion message. */
  detail: string;
}

export type TlsStack = 'openssl' | 'gnutls';

const DEADLINE_MS = 10_000;

/** A spawned tool, its merged output, and ways to wait on it. */
class Tool {
  readonly #child: ChildProcess;
  readonly #name: string;
  #output = '';
  #exit: string | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(name: string, command: string, args: string[], env?: NodeJS.ProcessEnv) {
    this.#name = name;
    this.#child = spawn(command, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    const append = (chunk: Buffer) => {
      this.#output += chunk.toString('utf8');
      this.#notify();
    };
    this.#child.stdout?.on('data', append);
    this.#child.stderr?.on('data', append);
    this.#child.stdin?.on('error', () => undefined);
    this.#child.on('error', (error) => {
      this.#exit ??= `failed to start: ${error.message}`;
      this.#notify();
    });
    this.#child.on('close', (code, signal) => {
      this.#exit ??= signal === null ? `exited with ${String(code)}` : `killed by ${signal}`;
      this.#notify();
    });
  }

  get output(): string {
    return this.#output;
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /**
   * Resolves with the first match of `pattern` in the output; rejects if this tool or one of
   * `peers` exits first, or when `deadline` passes.
   */
  waitFor(pattern: RegExp, deadline: number, peers: readonly Tool[] = []): Promise<RegExpMatchArray> {
    const watched = [this, ...peers];
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.#output);
        const gone = watched.find((tool) => tool.#exit !== undefined);
        let failure: string | undefined;
        if (match !== null) resolve(match);
        else if (gone !== undefined) failure = `${gone.#name} ${gone.#exit ?? ''} before ${this.#name} printed ${String(pattern)}`;
        else if (Date.now() >= deadline) failure = `${this.#name} timed out waiting for ${String(pattern)}`;
        else return;
        for (const tool of watched) tool.#listeners.delete(check);
        clearTimeout(timer);
        if (failure !== undefined) reject(new Error(failure));
      };
      const timer = setTimeout(check, Math.max(0, deadline - Date.now()));
      for (const tool of watched) tool.#listeners.add(check);
      check();
    });
  }

  /** Resolves once the process has exited, or after `ms`. */
  async settle(ms: number): Promise<void> {
    if (this.#exit !== undefined) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#listeners.add(() => {
        if (this.#exit !== undefined) done();
      });
    });
  }

  write(line: string): void {
    if (this.#child.stdin?.writable === true) this.#child.stdin.write(line);
  }

  /** Kills the process group this tool leads. */
  async kill(): Promise<void> {
    const pid = this.#child.pid;
    if (pid !== undefined && this.#exit === undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await this.settle(2_000);
    this.#listeners.clear();
  }

  describe(): string {
    return `--- ${this.#name} (${this.#exit ?? 'running'}) ---\n${this.#output.trim()}`;
  }
}

/** A port that was free a moment ago (gnutls-serv cannot report the one it got for port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

/**
 * OpenSSL's -cert loads only the first certificate of a file: any chain after the leaf goes in a
 * separate -cert_chain file.
 */
function opensslCertArgs(side: TlsSide, scratch: string, name: string): string[] {
  if (side.cert === undefined || side.key === undefined) return [];
  const args = ['-cert', side.cert, '-key', side.key];
  const chain = readFileSync(side.cert, 'utf8').match(PEM_BLOCK)?.slice(1) ?? [];
  if (chain.length > 0) {
    const chainPath = join(scratch, `${name}-chain.pem`);
    writeFileSync(chainPath, chain.join(''));
    args.push('-cert_chain', chainPath);
  }
  return args;
}

async function exchange(server: Tool, client: Tool, deadline: number, reply: boolean): Promise<void> {
  const token = randomBytes(8).toString('hex');
  const toServer = `client-says-${token}`;
  const toClient = `server-says-${token}`;
  client.write(`${toServer}\n`);
  await server.waitFor(new RegExp(toServer), deadline, [client]);
  if (reply) server.write(`${toClient}\n`);
  // An echo server sends the client's own line back.
  await client.waitFor(new RegExp(reply ? toClient : toServer), deadline, [server]);
}

async function opensslHandshake(tools: Tool[], server: TlsSide, client: TlsSide, atSeconds: number, scratch: string, deadline: number): Promise<void> {
  const attime = ['-attime', String(atSeconds)];
  const serverTool = new Tool('openssl s_server', 'openssl', [
    's_server',
    '-accept',
    '127.0.0.1:0',
    '-naccept',
    '1',
    ...opensslCertArgs(server, scratch, 'server'),
    '-CAfile',
    server.ca,
    '-no-CAfile',
    '-no-CApath',
    '-no-CAstore',
    // Capital V: the client must present a certificate. The depth leaves room for a chain.
    '-Verify',
    '4',
    '-verify_return_error',
    ...attime,
  ]);
  tools.push(serverTool);
  // -brief would hide the ACCEPT line that says which port port 0 became.
  const port = (await serverTool.waitFor(/^ACCEPT 127\.0\.0\.1:(\d+)$/m, deadline))[1] ?? '';
  const clientTool = new Tool('openssl s_client', 'openssl', [
    's_client',
    '-connect',
    `127.0.0.1:${port}`,
    '-servername',
    'localhost',
    '-verify_hostname',
    'localhost',
    '-verify_ip',
    '127.0.0.1',
    ...opensslCertArgs(client, scratch, 'client'),
    '-CAfile',
    client.ca,
    '-no-CAfile',
    '-no-CApath',
    '-no-CAstore',
    '-verify_return_error',
    ...attime,
    '-brief',
  ]);
  tools.push(clientTool);
  await exchange(serverTool, clientTool, deadline, true);
  await clientTool.waitFor(/^Verification: OK$/m, deadline);
  if (/verify error/i.test(serverTool.output)) throw new Error('openssl s_server reported a verify error');
}

/** Where Debian's faketime package put libfaketime for this machine's architecture. */
function libfaketime(): string {
  const candidates = readdirSync('/usr/lib')
    .filter((entry) => entry.endsWith('-linux-gnu'))
    .map((entry) => `/usr/lib/${entry}/faketime/libfaketime.so.1`)
    .concat('/usr/lib/faketime/libfaketime.so.1');
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) throw new Error('libfaketime.so.1 not found: install the faketime package (.ci/run does)');
  return found;
}

const SHARED_MEMORY = '/dev/shm';
const FAKETIME_OBJECT = /^(?:faketime_shm_|sem\.faketime_sem_)(\d+)$/;

/**
 * Removes what libfaketime left in /dev/shm for processes that are gone. Preloaded, it creates a
 * shared memory object and a semaphore named by its process id, and removes them only at a clean
 * exit: a killed tool leaves them behind. With process ids reused (32,768 here), a later tool
 * that gets the same id finds its name taken and exits ("shm_open failed: File exists").
 */
export function sweepStaleFaketimeObjects(directory = SHARED_MEMORY): number {
  let swept = 0;
  const entries = existsSync(directory) ? readdirSync(directory) : [];
  for (const entry of entries) {
    const pid = FAKETIME_OBJECT.exec(entry)?.[1];
    if (pid === undefined || isAlive(Number(pid))) continue;
    try {
      unlinkSync(join(directory, entry));
      swept++;
    } catch {
      // Swept by another test at the same time, or not ours to remove: either way not in the way.
    }
  }
  return swept;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function gnutlsHandshake(tools: Tool[], server: TlsSide, client: TlsSide, at: Date, deadline: number): Promise<void> {
  // libfaketime (from the faketime package) preloaded straight into each tool, rather than the
  // `faketime` wrapper: the wrapper's named semaphore collides when several run at once
  // ("sem_open: File exists"). FAKETIME "@..." starts the clock at `at` and lets it run on; the
  // date is read in the local zone, so the zone is pinned to UTC.
  const when = at.toISOString().slice(0, 19).replace('T', ' ');
  const env = { ...process.env, TZ: 'UTC', LD_PRELOAD: libfaketime(), FAKETIME: `@${when}` };
  sweepStaleFaketimeObjects();
  for (let attempt = 1; ; attempt++) {
    const port = String(await freePort());
    const serverTool = new Tool(
      'gnutls-serv',
      'gnutls-serv',
      [
        '--echo',
        '--port',
        port,
        ...(server.cert !== undefined && server.key !== undefined ? ['--x509certfile', server.cert, '--x509keyfile', server.key] : []),
        '--x509cafile',
        server.ca,
        '--require-client-cert',
        '--verify-client-cert',
      ],
      env,
    );
    tools.push(serverTool);
    // gnutls-serv carries on (on IPv6 alone) when the IPv4 port is taken: look at that line.
    const listening = await serverTool.waitFor(/^Echo Server listening on IPv4 [^\n]*?\.\.\.([^\n]*)\n/m, deadline);
    if (listening[1] !== 'done') {
      // Someone took the port between freePort() and the bind: try another.
      await serverTool.kill();
      if (attempt < 5) continue;
      throw new Error(`gnutls-serv could not listen: ${listening[1] ?? ''}`);
    }
    const clientTool = new Tool(
      'gnutls-cli',
      'gnutls-cli',
      [
        '--port',
        port,
        '--sni-hostname',
        'localhost',
        '--verify-hostname',
        'localhost',
        '--x509cafile',
        client.ca,
        ...(client.cert !== undefined && client.key !== undefined ? ['--x509certfile', client.cert, '--x509keyfile', client.key] : []),
        '127.0.0.1',
      ],
      env,
    );
    tools.push(clientTool);
    await clientTool.waitFor(/^- Handshake was completed/m, deadline);
    await exchange(serverTool, clientTool, deadline, false);
    // Both sides say they verified the peer, not merely that data flowed.
    await serverTool.waitFor(/^- Status: The certificate is trusted\./m, deadline);
    await clientTool.waitFor(/^- Status: The certificate is trusted\./m, deadline);
    return;
  }
}

/**
 * One mutual-TLS handshake between `server` and `client` with `stack`, judged at `at`. Never
 * throws for a failed handshake: the result says why.
 */
export async function replayHandshake(stack: TlsStack, server: TlsSide, client: TlsSide, at: Date): Promise<HandshakeResult> {
  const scratch = mkdtempSync(join(tmpdir(), 'certrotate-tls-'));
  const deadline = Date.now() + DEADLINE_MS;
  // Every tool started is registered here first, so it is killed whatever happens.
  const tools: Tool[] = [];
  try {
    if (stack === 'openssl') await opensslHandshake(tools, server, client, Math.floor(at.getTime() / 1000), scratch, deadline);
    else await gnutlsHandshake(tools, server, client, at, deadline);
    return { ok: true, detail: tools.map((tool) => tool.describe()).join('\n') };
  } catch (error) {
    return { ok: false, detail: [error instanceof Error ? error.message : String(error), ...tools.map((tool) => tool.describe())].join('\n') };
  } finally {
    await Promise.all(tools.map((tool) => tool.kill()));
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Runs `task` over `items` with at most `limit` at a time, results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < items.length; index = next++) results[index] = await task(items[index] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
