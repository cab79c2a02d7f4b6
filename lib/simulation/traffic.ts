/**
 * The simulation's traffic runs on a second thread. The handshakes and daily chain checks depend
 * only on the material read at an instant and on that instant, both sent by value, so they can run
 * while the main thread goes on ticking: the run proves the same thing, and the two cores share the
 * work. Results come back as promises, in any order; the caller numbers what it records.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { HandshakeResult, TlsIdentity } from '../local/handshake.js';
import type { ChainVerdict, Purpose } from '../pki/index.js';

export interface ChainCheck {
  chainPem: string;
  bundlePem: string;
  purpose: Purpose;
}

export type TrafficRequest =
  | { id: number; kind: 'handshake'; server: TlsIdentity; client: TlsIdentity; at: number }
  | { id: number; kind: 'verify'; checks: ChainCheck[]; at: number };

export type TrafficReply = { id: number; kind: 'handshake'; result: HandshakeResult } | { id: number; kind: 'verify'; verdicts: ChainVerdict[] };

interface Pending {
  resolve: (reply: TrafficReply) => void;
  reject: (error: Error) => void;
}

/** Only the three PEMs cross the thread boundary, whatever else the caller's object holds. */
function identity(side: TlsIdentity): TlsIdentity {
  return { certificatePem: side.certificatePem, privateKeyPem: side.privateKeyPem, bundlePem: side.bundlePem };
}

export class TrafficThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #failure: Error | undefined;

  constructor() {
    // Run from the sources (tests, tsx), the worker is TypeScript like the rest: it loads through
    // tsx, resolved from this package so it works whatever the working directory. Built by
    // bin/start.mjs, it is the traffic-worker.js beside this bundle.
    if (import.meta.url.endsWith('.ts')) {
      const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
      this.#worker = new Worker(new URL('./traffic-worker.ts', import.meta.url), { execArgv: ['--import', tsx] });
    } else this.#worker = new Worker(new URL('./traffic-worker.js', import.meta.url));
    this.#worker.on('message', (reply: TrafficReply) => {
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      pending?.resolve(reply);
    });
    this.#worker.on('error', (error) => {
      this.#fail(error);
    });
    this.#worker.on('exit', (code) => {
      this.#fail(new Error(`the traffic thread exited (code ${code}) with ${this.#pending.size} requests unanswered`));
    });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }

  #request(request: TrafficRequest): Promise<TrafficReply> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#pending.set(request.id, { resolve, reject });
      this.#worker.postMessage(request);
    });
  }

  /** A real mutual-TLS handshake between these two sides, judged at `at`. */
  async handshake(server: TlsIdentity, client: TlsIdentity, at: number): Promise<HandshakeResult> {
    const reply = await this.#request({ id: this.#nextId++, kind: 'handshake', server: identity(server), client: identity(client), at });
    if (reply.kind !== 'handshake') throw new Error(`the traffic thread answered a handshake with ${reply.kind}`);
    return reply.result;
  }

  /** Each chain verified against its bundle at `at`, in order. */
  async verify(checks: readonly ChainCheck[], at: number): Promise<ChainVerdict[]> {
    const reply = await this.#request({ id: this.#nextId++, kind: 'verify', checks: [...checks], at });
    if (reply.kind !== 'verify') throw new Error(`the traffic thread answered a chain check with ${reply.kind}`);
    return reply.verdicts;
  }

  /** Ends the thread; whatever is still unanswered is rejected, never left waiting. */
  async stop(): Promise<void> {
    this.#fail(new Error('the traffic thread was stopped'));
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }
}
