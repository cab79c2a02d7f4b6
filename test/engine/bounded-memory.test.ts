/**
 * Memory bounded by the work in flight, not the fleet (issue 17), proved by structure rather than
 * by timing: the real adapters against the local endpoints, wrapped so that every leaf secret a run
 * reads or writes is tracked with a WeakRef; before each call the run makes to its stores, a full
 * garbage collection runs and the leaves still alive are counted. A run that keeps every leaf it
 * read (the whole fleet) fails; one that pages holds a constant number of pages, whatever the fleet.
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { WHOLE_PAGES } from '../../lib/engine/leaf-record.js';
import { tick } from '../../lib/engine/tick.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import type { CertificateStore, StoredLeaf } from '../../lib/ports.js';
import { fleetConfig } from '../support/fleet.js';
import { delegatingStateStore } from '../support/stores.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1);
const LEAVES = 300;
const PAGE = 10;
const WRITE_CONCURRENCY = 4;
/**
 * The leaves a run keeps whole (the first WHOLE_PAGES pages: a small fleet is not read twice), two
 * rewrite pages held, one being read, the writes in flight, and a page of slack.
 */
const BOUND = (WHOLE_PAGES + 4) * PAGE + WRITE_CONCURRENCY;

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

/** Counts the leaf secrets (read, or handed to writeLeaf) that are still reachable, at the moments the run calls a store. */
class LeafRetention {
  readonly #refs = new Set<WeakRef<StoredLeaf>>();
  maxAlive = 0;
  largestRead = 0;
  readonly #calls = new Map<string, number>();

  track(leaves: readonly StoredLeaf[]): void {
    for (const leaf of leaves) this.#refs.add(new WeakRef(leaf));
  }

  /** After a macrotask (WeakRefs made in a job keep their targets until it ends), collect and count. */
  async sample(call: string, every = 1): Promise<void> {
    const count = this.#calls.get(call) ?? 0;
    this.#calls.set(call, count + 1);
    if (count % every !== 0) return;
    // Sampled now and then (each is a full collection); a run that keeps the fleet keeps it between any two.
    await nextMacrotask();
    gc();
    for (const ref of this.#refs) if (ref.deref() === undefined) this.#refs.delete(ref);
    this.maxAlive = Math.max(this.maxAlive, this.#refs.size);
  }

  reset(): void {
    this.maxAlive = 0;
    this.largestRead = 0;
  }

  store(real: CertificateStore): CertificateStore {
    return {
      listCaGenerations: (authority) => real.listCaGenerations(authority),
      readCa: (authority, generation) => real.readCa(authority, generation),
      createCa: (ca) => real.createCa(ca),
      readBundle: (authority) => real.readBundle(authority),
      writeBundle: (authority, pem) => real.writeBundle(authority, pem),
      listLeafIds: (authority) => real.listLeafIds(authority),
      readLeaves: async (authority, ids) => {
        await this.sample('readLeaves', 3);
        this.largestRead = Math.max(this.largestRead, ids.length);
        const read = await real.readLeaves(authority, ids);
        this.track(read.leaves);
        return read;
      },
      writeLeaf: async (leaf, previous) => {
        this.track([leaf]);
        await this.sample('writeLeaf', 40);
        return real.writeLeaf(leaf, previous);
      },
    };
  }
}

describe('a run over a large fleet', () => {
  it(`holds a bounded number of pages of leaf secrets at once in a reconcile and in a rotation of ${LEAVES} leaves (pages of ${PAGE})`, async () => {
    env = await startLocalEnvironment();
    const config = fleetConfig({ leaves: LEAVES });
    const retention = new LeafRetention();
    const realState = env.state;
    const state = delegatingStateStore(realState);
    const sampled: typeof state = {
      ...state,
      putLeafRows: async (rows) => {
        await retention.sample('putLeafRows');
        return realState.putLeafRows(rows);
      },
      readAllLeafRows: async (authority) => {
        await retention.sample('readAllLeafRows');
        return realState.readAllLeafRows(authority);
      },
      writeState: async (authority, next, version) => {
        await retention.sample('writeState');
        return realState.writeState(authority, next, version);
      },
    };
    const deps = { ...env.deps(config), certificates: retention.store(env.certificates), state: sampled, leafPageSize: PAGE, writeConcurrency: WRITE_CONCURRENCY };
    await tick(deps, { now: T0, owner: 'bootstrap', mode: 'reconcile' });

    retention.reset();
    const [reconciled] = await tick(deps, { now: T0 + DAY, owner: 'reconcile', mode: 'reconcile' });
    expect(reconciled?.status).toContain(`leaves ${LEAVES}/${LEAVES} from 1`);
    expect(retention.largestRead).toBeLessThanOrEqual(PAGE);
    expect(retention.maxAlive).toBeLessThanOrEqual(BOUND);

    // An emergency rotation skips every soak: one run publishes [1 2] to every leaf, reissues every
    // leaf from CA 2, publishes [2] to every leaf and retires CA 1.
    await runCommand(env.state, 'cluster', { kind: 'rotate-ca', requestId: 'bounded', reason: 'bounded memory', emergency: true }, T0 + DAY + HOUR);
    retention.reset();
    const [rotated] = await tick(deps, { now: T0 + DAY + 2 * HOUR, owner: 'rotate', mode: 'scan' });
    expect(rotated?.state).toMatchObject({ phase: 'Stable', generation: 2, retired: [1] });
    expect(rotated?.steps.map((step) => step.kind)).toEqual(expect.arrayContaining(['publish-bundle', 'reissue-leaves', 'retire-ca']));
    expect(retention.largestRead).toBeLessThanOrEqual(PAGE);
    expect(retention.maxAlive).toBeLessThanOrEqual(BOUND);
    // Every leaf is on CA 2 with [2] as its ca.crt: the pages covered the whole fleet.
    const [after] = await tick(deps, { now: T0 + DAY + 3 * HOUR, owner: 'check', mode: 'reconcile' });
    expect(after?.status).toContain(`leaves ${LEAVES}/${LEAVES} from 2`);
    expect(after?.consumers).toMatchObject({ total: LEAVES + 1, holding: LEAVES + 1 });
  });
});
