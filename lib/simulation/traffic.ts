/**
 * The simulation's traffic runs on a second thread. The handshakes and daily chain checks depend
 * only on the material read at an instant and on that instant, both sent by value, so they can run
 * while the main thread goes on ticking: the run proves the same thing, and the two cores share the
 * work, the traffic at a lower priority (traffic-worker.ts) so that the ticks set the pace. Results
 * come back as promises, in any order; the caller numbers what it records.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { HandshakeResult, TlsIdentity } from '../local/handshake.js';
import type { ChainVerdict, Purpose } from '../pki/index.js';

export interface ChainCheck {
  chainPem: string;
  bundlePem: string;
  purpose: Purpose;
}

/** A standing daily check that changed since the last day: its new value, or null once it is gone. */
export interface DailyChange {
  index: number;
  check: ChainCheck | null;
}

/** A standing daily check that failed, by its index in the caller's list. */
export interface DailyFailure {
  index: number;
  verdict: Extract<ChainVerdict, { ok: false }>;
}

export type TrafficRequest =
  | { id: number; kind: 'handshake'; server: TlsIdentity; client: TlsIdentity; at: number }
  | { id: number; kind: 'daily'; changes: DailyChange[]; size: number; at: number; judge: boolean };

export type TrafficReply = { id: number; kind: 'handshake'; result: HandshakeResult } | { id: number; kind: 'daily'; failures: DailyFailure[] };

interface Pending {
  resolve: (reply: TrafficReply) => void;
  reject: (error: Error) => void;
}

/**
 * Requests posted to the thread and not yet answered, at most. The rest wait here, in order: a
 * waiting request holds references to the caller's PEMs, while a posted one is a copy in the
 * thread's heap, so a backlog of thousands costs little memory. The thread runs 8 handshakes
 * at once (traffic-worker.ts); 32 posted keep it fed.
 */
const POSTED_AT_MOST = 32;
/** A daily check's changes cross in messages of at most this many (a first day at 10,000 leaves has 40,000). */
const CHANGES_PER_MESSAGE = 1024;
/**
 * The traffic thread's old generation, at most. Without a limit V8 lets garbage grow far past the
 * thread's live data, which is bounded whatever the fleet: kept chains and OpenSSL contexts (both
 * bounded caches), the requests posted (at most POSTED_AT_MOST, a daily message at most
 * CHANGES_PER_MESSAGE changes), a few numbers per standing daily check.
 */
const OLD_GENERATION_MB = 128;

/** Only the three PEMs cross the thread boundary, whatever else the caller's object holds. */
function identity(side: TlsIdentity): TlsIdentity {
  return { certificatePem: side.certificatePem, privateKeyPem: side.privateKeyPem, bundlePem: side.bundlePem };
}

function sameCheck(a: ChainCheck | undefined, b: ChainCheck | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.purpose === b.purpose && a.chainPem === b.chainPem && a.bundlePem === b.bundlePem);
}

export class TrafficThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  /** Requests not yet posted, oldest first; `#posted` are out in the thread. */
  readonly #waiting: TrafficRequest[] = [];
  #waitingFrom = 0;
  #posted = 0;
  /** The daily checks the thread holds, as last sent: each day sends only what changed. */
  #standing: readonly (ChainCheck | undefined)[] = [];
  #nextId = 0;
  #failure: Error | undefined;

  constructor() {
    // Run from the sources (tests, tsx), the worker is TypeScript like the rest: it loads through
    // tsx, resolved from this package so it works whatever the working directory. Built by
    // bin/start.mjs, it is the traffic-worker.js beside this bundle.
    if (import.meta.url.endsWith('.ts')) {
      const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
      this.#worker = new Worker(new URL('./traffic-worker.ts', import.meta.url), { execArgv: ['--import', tsx], resourceLimits: { maxOldGenerationSizeMb: OLD_GENERATION_MB } });
    } else this.#worker = new Worker(new URL('./traffic-worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: OLD_GENERATION_MB } });
    this.#worker.on('message', (reply: TrafficReply) => {
      const pending = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      this.#posted--;
      this.#post();
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
    this.#waiting.length = 0;
    this.#waitingFrom = 0;
  }

  #request(request: TrafficRequest): Promise<TrafficReply> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#pending.set(request.id, { resolve, reject });
      this.#waiting.push(request);
      this.#post();
    });
  }

  /** Posts waiting requests, in order, while fewer than POSTED_AT_MOST are out. */
  #post(): void {
    while (this.#posted < POSTED_AT_MOST && this.#waitingFrom < this.#waiting.length) {
      const request = this.#waiting[this.#waitingFrom++];
      if (request === undefined) break;
      this.#posted++;
      this.#worker.postMessage(request);
    }
    // The queue's front is a cursor (shift is linear): posted requests are cut off in bulk.
    if (this.#waitingFrom === this.#waiting.length || (this.#waitingFrom >= 1024 && 2 * this.#waitingFrom >= this.#waiting.length)) {
      this.#waiting.splice(0, this.#waitingFrom);
      this.#waitingFrom = 0;
    }
  }

  /** A real mutual-TLS handshake between these two sides, judged at `at`. */
  async handshake(server: TlsIdentity, client: TlsIdentity, at: number): Promise<HandshakeResult> {
    const reply = await this.#request({ id: this.#nextId++, kind: 'handshake', server: identity(server), client: identity(client), at });
    if (reply.kind !== 'handshake') throw new Error(`the traffic thread answered a handshake with ${reply.kind}`);
    return reply.result;
  }

  /**
   * The daily check: every chain of `checks` verified against its bundle at `at` (a hole is no
   * check). The thread keeps the list; only the entries that changed since the last call cross
   * to it, so a day on which little changed costs little at a thousand pairs. Returns the failures.
   */
  async dailyCheck(checks: readonly (ChainCheck | undefined)[], at: number): Promise<DailyFailure[]> {
    const changes: DailyChange[] = [];
    for (let index = 0; index < checks.length; index++) {
      const check = checks[index];
      if (!sameCheck(check, this.#standing[index])) changes.push({ index, check: check === undefined ? null : { chainPem: check.chainPem, bundlePem: check.bundlePem, purpose: check.purpose } });
    }
    this.#standing = [...checks];
    const messages = Math.max(1, Math.ceil(changes.length / CHANGES_PER_MESSAGE));
    const replies = await Promise.all(
      Array.from({ length: messages }, (_, message) =>
        this.#request({
          id: this.#nextId++,
          kind: 'daily',
          changes: changes.slice(message * CHANGES_PER_MESSAGE, (message + 1) * CHANGES_PER_MESSAGE),
          size: checks.length,
          at,
          judge: message === messages - 1,
        }),
      ),
    );
    const reply = replies.at(-1);
    if (reply?.kind !== 'daily') throw new Error(`the traffic thread answered a daily check with ${reply?.kind ?? 'nothing'}`);
    return reply.failures;
  }

  /** Ends the thread; whatever is still unanswered is rejected, never left waiting. */
  async stop(): Promise<void> {
    this.#fail(new Error('the traffic thread was stopped'));
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }
}

/** A stable thread index for `route` (FNV-1a): the same route, the same thread. */
function threadIndex(route: string, threads: number): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < route.length; index++) hash = Math.imul(hash ^ route.charCodeAt(index), 0x01000193);
  return (hash >>> 0) % threads;
}

/**
 * The traffic spread over a thread per core (at most two: the main thread keeps ticking meanwhile).
 * Each handshake names a route, and a route always goes to the same thread: the caller routes a
 * pair by its less connected leaf, so a renewed leaf's new OpenSSL context is made once, in the
 * thread that runs all its handshakes. The daily check runs on the first thread.
 */
export class TrafficThreads {
  readonly #threads: TrafficThread[];

  constructor(count = Math.min(2, availableParallelism())) {
    this.#threads = Array.from({ length: Math.max(1, count) }, () => new TrafficThread());
  }

  get size(): number {
    return this.#threads.length;
  }

  handshake(server: TlsIdentity, client: TlsIdentity, at: number, route = ''): Promise<HandshakeResult> {
    return (this.#threads[threadIndex(route, this.#threads.length)] ?? this.#first).handshake(server, client, at);
  }

  dailyCheck(checks: readonly (ChainCheck | undefined)[], at: number): Promise<DailyFailure[]> {
    return this.#first.dailyCheck(checks, at);
  }

  get #first(): TrafficThread {
    const first = this.#threads[0];
    if (first === undefined) throw new Error('no traffic thread');
    return first;
  }

  async stop(): Promise<void> {
    await Promise.all(this.#threads.map((thread) => thread.stop()));
  }
}
