/**
 * Replays the `--out` snapshots of a short simulation with other TLS stacks, each judged at the
 * snapshot's `at`: OpenSSL (s_server/s_client with -attime) and GnuTLS (gnutls-serv/gnutls-cli
 * under faketime), client certificates required. Every mix of the two sides of every snapshot
 * must handshake; a few deliberately wrong pairings must not, so the replay cannot pass vacuously.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulate, type SimulationResult } from '../../lib/simulation/run.js';
import { mapLimit, replayHandshake, type TlsSide, type TlsStack } from '../support/tls-tools.js';

const DAY = 24 * 60 * 60 * 1000;
const FILES = ['ca.crt', 'client.crt', 'client.key', 'server.crt', 'server.key'];
const STACKS: readonly TlsStack[] = ['openssl', 'gnutls'];
/** Handshakes in flight at once (each runs two short-lived processes; CI has 2 cores). */
const CONCURRENCY = 4;
/** A forced rotation of cluster on day 2 completes well within 5 days. */
const OPTIONS = { days: 5, leaves: 12, algorithm: 'p256', seed: 3, forceRotationAt: 2 } as const;

type Which = 'before' | 'after';

interface Snapshot {
  authority: string;
  /** `NN-<phase entered>`. */
  name: string;
  path: string;
  at: Date;
  /** The side folders present, in the order before, after. */
  sides: Which[];
}

interface Case {
  label: string;
  server: TlsSide;
  client: TlsSide;
  at: Date;
}

let out: string;
let result: SimulationResult;
let all: Snapshot[];

function readSnapshots(dir: string): Snapshot[] {
  return readdirSync(dir)
    .sort()
    .flatMap((authority) =>
      readdirSync(join(dir, authority))
        .sort()
        .map((name) => {
          const path = join(dir, authority, name);
          return {
            authority,
            name,
            path,
            at: new Date(readFileSync(join(path, 'at'), 'utf8').trim()),
            sides: (['before', 'after'] as const).filter((which) => existsSync(join(path, which))),
          };
        }),
    );
}

function snapshot(authority: string, name: string): Snapshot {
  const found = all.find((candidate) => candidate.authority === authority && candidate.name === name);
  if (found === undefined) throw new Error(`no snapshot ${authority}/${name}`);
  return found;
}

function side(snap: Snapshot, which: Which, role: 'server' | 'client'): TlsSide {
  const dir = join(snap.path, which);
  return { cert: join(dir, `${role}.crt`), key: join(dir, `${role}.key`), ca: join(dir, 'ca.crt') };
}

function certificates(path: string): X509Certificate[] {
  return (readFileSync(path, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (pem) => new X509Certificate(pem),
  );
}

function subjects(path: string): string[] {
  return certificates(path).map((certificate) => certificate.subject);
}

function leaf(path: string): X509Certificate {
  const [first] = certificates(path);
  if (first === undefined) throw new Error(`no certificate in ${path}`);
  return first;
}

/** Every mix of the sides a snapshot has: server from one folder, client from the other, each with its own ca.crt. */
function mixes(snap: Snapshot): Case[] {
  return snap.sides.flatMap((serverSide) =>
    snap.sides.map((clientSide) => ({
      label: `${snap.authority}/${snap.name} server ${serverSide}/ client ${clientSide}/ at ${snap.at.toISOString()}`,
      server: side(snap, serverSide, 'server'),
      client: side(snap, clientSide, 'client'),
      at: snap.at,
    })),
  );
}

async function replay(stack: TlsStack, cases: readonly Case[]): Promise<{ label: string; ok: boolean; detail: string }[]> {
  return mapLimit(cases, CONCURRENCY, async (c) => ({ label: c.label, ...(await replayHandshake(stack, c.server, c.client, c.at)) }));
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'certrotate-replay-'));
  result = await simulate({ ...OPTIONS, outDir: out });
  all = readSnapshots(out);
}, 60_000);

afterAll(() => {
  if (out !== undefined) rmSync(out, { recursive: true, force: true });
});

describe('the --out snapshots of a short run with a forced rotation', () => {
  it('come from a clean run', () => {
    expect(result.failures).toEqual([]);
    expect(result.totals).toMatchObject({ rotations: 1, failedHandshakes: 0, expiredServed: 0 });
  });

  it('hold one folder per phase transition of each authority, in order, stamped with its instant', () => {
    expect(readdirSync(out).sort()).toEqual(Object.keys(result.history).sort());
    for (const [authority, history] of Object.entries(result.history)) {
      const folders = all.filter((snap) => snap.authority === authority);
      expect(folders.map((snap) => snap.name)).toEqual(history.map((transition, index) => `${String(index + 1).padStart(2, '0')}-${transition.to}`));
      folders.forEach((snap, index) => {
        const text = readFileSync(join(snap.path, 'at'), 'utf8').trim();
        expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
        expect(snap.at.getTime()).toBe(history[index]?.at);
      });
    }
    // What this run actually does: bootstrap, then a full forced rotation of cluster (the second
    // LeavesMigrated is the step that drops CA 1 from the bundle).
    expect(all.map((snap) => `${snap.authority}/${snap.name}`)).toEqual([
      'cluster/01-Stable',
      'cluster/02-Prepared',
      'cluster/03-TrustExpanded',
      'cluster/04-LeavesMigrated',
      'cluster/05-LeavesMigrated',
      'cluster/06-Stable',
      'etcd/01-Stable',
      'front-proxy/01-Stable',
    ]);
  });

  it('hold the five PEM files on each side, before/ missing only at bootstrap', () => {
    for (const snap of all) {
      const bootstrap = snap.name === '01-Stable' && result.history[snap.authority]?.[0]?.generation === 0;
      // The bootstrap transition has nothing before it: the run writes after/ only.
      expect(snap.sides, `${snap.authority}/${snap.name}`).toEqual(bootstrap ? ['after'] : ['before', 'after']);
      for (const which of snap.sides) {
        const dir = join(snap.path, which);
        expect(readdirSync(dir).sort(), dir).toEqual(FILES);
        expect(certificates(join(dir, 'ca.crt')).length, dir).toBeGreaterThan(0);
        for (const role of ['server', 'client'] as const) {
          const certificate = leaf(join(dir, `${role}.crt`));
          expect(certificate.checkPrivateKey(createPrivateKey(readFileSync(join(dir, `${role}.key`)))), `${dir} ${role}`).toBe(true);
        }
        const sans = leaf(join(dir, 'server.crt')).subjectAltName ?? '';
        expect(sans, dir).toContain('DNS:localhost');
        expect(sans, dir).toContain('IP Address:127.0.0.1');
      }
    }
  });

  it('show the rotation: [1], then [1 2], then leaves from CA 2, then [2]', () => {
    const ca1 = 'CN=certrotate cluster CA 1';
    const ca2 = 'CN=certrotate cluster CA 2';
    const bundle = (name: string, which: Which) => subjects(join(snapshot('cluster', name).path, which, 'ca.crt')).sort();
    const issuer = (name: string, which: Which, role: 'server' | 'client') => leaf(join(snapshot('cluster', name).path, which, `${role}.crt`)).issuer;
    expect(bundle('02-Prepared', 'before')).toEqual([ca1]);
    expect(bundle('03-TrustExpanded', 'after')).toEqual([ca1, ca2]);
    expect([issuer('04-LeavesMigrated', 'before', 'server'), issuer('04-LeavesMigrated', 'before', 'client')]).toEqual([ca1, ca1]);
    expect([issuer('04-LeavesMigrated', 'after', 'server'), issuer('04-LeavesMigrated', 'after', 'client')]).toEqual([ca2, ca2]);
    expect(bundle('06-Stable', 'after')).toEqual([ca2]);
  });
});

describe.each(STACKS)('replayed with %s, client certificates required', (stack) => {
  it('completes every mix of before/ and after/ of every snapshot, judged at its instant', async () => {
    const cases = all.flatMap(mixes);
    // 2 x 2 mixes for each snapshot with both sides; the three bootstrap folders have after/ only.
    expect(cases).toHaveLength(4 * (all.length - 3) + 3);
    const results = await replay(stack, cases);
    const failed = results.filter((r) => !r.ok);
    expect(failed.map((r) => `${r.label}\n${r.detail}`)).toEqual([]);
    expect(results.filter((r) => r.ok)).toHaveLength(cases.length);
  }, 60_000);

  it('fails the handshakes that must fail, for the right reason', async () => {
    const migrated = snapshot('cluster', '04-LeavesMigrated');
    const prepared = snapshot('cluster', '02-Prepared');
    const stable = snapshot('cluster', '06-Stable');
    const etcd = snapshot('etcd', '01-Stable');
    const server = side(migrated, 'before', 'server');
    const client = side(migrated, 'before', 'client');
    const notAfter = Math.min(Date.parse(leaf(side(stable, 'after', 'server').cert ?? '').validTo), Date.parse(leaf(side(stable, 'after', 'client').cert ?? '').validTo));
    const negatives: (Case & { reason: Record<TlsStack, RegExp> })[] = [
      {
        label: 'a client certificate from an unrelated authority (etcd), the client trusting the right CA',
        server,
        client: { ...side(etcd, 'after', 'client'), ca: client.ca },
        at: migrated.at,
        // The server is the one that refuses (GnuTLS: the server's log, or the alert the client got
        // when the server's log was not flushed before it was stopped).
        reason: { openssl: /tls_process_client_certificate:certificate verify failed/, gnutls: /Error in handshake: Error in the certificate|Received alert \[\d+\]: (Certificate is bad|Unknown CA|Certificate is unknown)/ },
      },
      {
        label: 'a server certificate from an unrelated authority (etcd), the server trusting the right CA',
        server: { ...side(etcd, 'after', 'server'), ca: server.ca },
        client,
        at: migrated.at,
        // The client is the one that refuses.
        reason: { openssl: /tls_post_process_server_certificate:certificate verify failed/, gnutls: /NOT trusted\. The certificate issuer is unknown/ },
      },
      {
        label: 'no client certificate at all',
        server,
        client: { ca: client.ca },
        at: migrated.at,
        reason: { openssl: /peer did not return a certificate/, gnutls: /Error in handshake: Certificate is required/ },
      },
      {
        label: 'a server from before the rotation with a client from after it (trusting [2] only)',
        server: side(prepared, 'before', 'server'),
        client: side(stable, 'after', 'client'),
        at: stable.at,
        reason: { openssl: /tls_post_process_server_certificate:certificate verify failed/, gnutls: /NOT trusted\. The certificate issuer is unknown/ },
      },
      {
        label: 'the final material judged a day after its leaves expire',
        server: side(stable, 'after', 'server'),
        client: side(stable, 'after', 'client'),
        at: new Date(notAfter + DAY),
        reason: { openssl: /verify error:num=10:certificate has expired/, gnutls: /NOT trusted\. The certificate chain uses expired certificate/ },
      },
    ];
    const results = await replay(stack, negatives);
    negatives.forEach((negative, index) => {
      const r = results[index];
      expect(r?.ok, `${negative.label} must fail`).toBe(false);
      expect(r?.detail, negative.label).toMatch(negative.reason[stack]);
    });
  }, 60_000);
});
