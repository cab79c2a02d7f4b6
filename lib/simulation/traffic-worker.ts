/**
 * The simulation's traffic, on a thread of its own (see traffic.ts): real mutual-TLS handshakes
 * over loopback and the daily chain checks, each judged at the simulated instant it was asked for.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { mutualTlsHandshake } from '../local/handshake.js';
import { ChainCache, verdictAt, type CheckedStructure } from '../pki/index.js';
import type { DailyFailure, TrafficReply, TrafficRequest } from './traffic.js';

/** Handshakes run side by side: each waits on loopback I/O much of the time. */
const HANDSHAKES_IN_FLIGHT = 8;

const port = parentPort;
if (port === null) throw new Error('traffic-worker.ts runs as a worker thread, started by TrafficThread');

const TRAFFIC_NICENESS = 10;

/**
 * The main thread sets the run's pace (every tick's calls run there, one after another); this
 * thread's work only has to be done before the results are needed. On two cores the traffic
 * threads took turns with it, and it waited for a core for seconds of each run. At a lower
 * priority they use what it leaves. Linux names the calling thread at /proc/thread-self, and a
 * thread id is a process id to setpriority; elsewhere the thread keeps the default priority.
 */
function yieldToMainThread(): void {
  try {
    setPriority(Number(readlinkSync('/proc/thread-self').split('/').at(-1)), TRAFFIC_NICENESS);
  } catch {
    // Not Linux, or not allowed: the same run, only paced differently.
  }
}
yieldToMainThread();

const chains = new ChainCache();
/** The standing daily checks, each checked once: a day judges their validity windows at its instant. */
const standing: (CheckedStructure | undefined)[] = [];
const queued: Extract<TrafficRequest, { kind: 'handshake' }>[] = [];
let inFlight = 0;

function reply(message: TrafficReply): void {
  port?.postMessage(message);
}

function pump(): void {
  while (inFlight < HANDSHAKES_IN_FLIGHT) {
    const job = queued.shift();
    if (job === undefined) return;
    inFlight++;
    void mutualTlsHandshake(job.server, job.client, { at: job.at, chains })
      .catch((error: unknown) => ({ ok: false as const, error: error instanceof Error ? error.message : String(error) }))
      .then((result) => {
        reply({ id: job.id, kind: 'handshake', result });
      })
      .finally(() => {
        inFlight--;
        pump();
      });
  }
}

port.on('message', (request: TrafficRequest) => {
  if (request.kind === 'handshake') {
    queued.push(request);
    pump();
    return;
  }
  standing.length = Math.min(standing.length, request.size);
  for (const { index, check } of request.changes) standing[index] = check === null ? undefined : chains.structure(check.chainPem, check.bundlePem, check.purpose);
  const failures: DailyFailure[] = [];
  // A daily check's changes may cross in several messages: only its last judges the list.
  if (request.judge) {
    standing.forEach((structure, index) => {
      if (structure === undefined) return;
      const verdict = verdictAt(structure, request.at);
      if (!verdict.ok) failures.push({ index, verdict });
    });
  }
  reply({ id: request.id, kind: 'daily', failures });
});
