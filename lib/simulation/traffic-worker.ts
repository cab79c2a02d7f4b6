/**
 * The simulation's traffic, on a thread of its own (see traffic.ts): real mutual-TLS handshakes
 * over loopback and the daily chain checks, each judged at the simulated instant it was asked for.
 */
import { parentPort } from 'node:worker_threads';
import { mutualTlsHandshake } from '../local/handshake.js';
import { ChainCache, verdictAt, type CheckedStructure } from '../pki/index.js';
import type { DailyFailure, TrafficReply, TrafficRequest } from './traffic.js';

/** Handshakes run side by side: each waits on loopback I/O much of the time. */
const HANDSHAKES_IN_FLIGHT = 8;

const port = parentPort;
if (port === null) throw new Error('traffic-worker.ts runs as a worker thread, started by TrafficThread');

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
