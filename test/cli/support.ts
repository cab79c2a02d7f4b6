/**
 * Drives the CLI as a user would: `bin/certrotate.mjs` as a child process (on this Node), and a
 * sandbox started with it, read line by line from its stdout.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/certrotate.mjs', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one command to its end; `env` adds to (or, with undefined, removes from) the environment. */
export function cli(args: readonly string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete merged[key];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: merged });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The JSON document a `--json` run printed. */
export function json(run: CliRun): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON (exit ${String(run.code)}): ${run.stdout}\nstderr: ${run.stderr}`);
  }
}

export interface RunningSandbox {
  endpoint: string;
  lines: string[];
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the first line (after `from`) that matches. */
  waitFor(pattern: RegExp, timeoutMs: number, from?: number): Promise<string>;
  /** Ctrl-C, and its exit code and stderr. */
  stop(): Promise<{ code: number | null; stderr: string }>;
}

export function startSandbox(args: readonly string[]): Promise<RunningSandbox> {
  const child = spawn(process.execPath, [BIN, 'sandbox', ...args]);
  const lines: string[] = [];
  let stderr = '';
  let partial = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
    for (const listener of listeners) listener();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const waitFor = (pattern: RegExp, timeoutMs: number, from = 0) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = lines.slice(from).find((candidate) => pattern.test(candidate));
        if (line === undefined) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(line);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no sandbox line matched ${String(pattern)} in ${timeoutMs} ms; lines:\n${lines.join('\n')}\nstderr: ${stderr}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return waitFor(/^CERTROTATE_ENDPOINT=/, 60_000).then((first) => ({
    endpoint: first.slice('CERTROTATE_ENDPOINT='.length),
    lines,
    child,
    waitFor,
    async stop() {
      child.kill('SIGINT');
      return { code: await exited, stderr };
    },
  }));
}

/** Polls `read` until `done` holds (or throws after `timeoutMs`). */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`still not there after ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
