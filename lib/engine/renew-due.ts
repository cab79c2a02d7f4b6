/**
 * The renewals of a scheduled run (the leaves that are due, renewed from the signer) and the
 * daily reconcile of the inventory with the leaf secrets.
 */
import type { LeafInventoryRow } from '../ports.js';
import { dueLeaves, type DueLeaf } from '../renewal/index.js';
import { bundleOf, signerOf, type RotationState } from '../rotation/index.js';
import type { AuthorityConsumers } from './consumers.js';
import type { EngineDeps } from './deps.js';
import { inventoryRow, reissueLeaves } from './reissue.js';
import type { AuthorityWorld, LeafRecord } from './world.js';

/** What a run's renewals did. */
export interface Renewals {
  renewed: DueLeaf[];
  /**
   * In a scan that went by the inventory: the rows that can hold the authority's earliest expiry
   * after the renewals (the rows read that were not due, with the due ones as this run left them),
   * so its expiry metric needs no read of its own.
   */
  earliestRows?: LeafInventoryRow[];
}

/** Renews what is due: every leaf read this tick, or in a scan the leaves the inventory says are due. */
export async function renewDue(deps: EngineDeps, world: AuthorityWorld, consumers: AuthorityConsumers, state: RotationState, options: { now: number; outOfTime?: () => boolean }): Promise<Renewals> {
  const signer = signerOf(state);
  if (signer === undefined) return { renewed: [] };
  const name = world.authority.name;
  let records = world.records();
  const scanned = records.length === 0;
  /** By leaf id, the inventory rows read (scans only), then as this run rewrote them. */
  const rowsAfter = new Map<string, LeafInventoryRow>();
  if (scanned) {
    const rows = await deps.state.readEarliestLeafRows(name, deps.config.renewal.jitterWindowMs, options.now);
    const dueRows = rows.filter((row) => row.renewAt <= options.now);
    const known = new Set(world.specs.map((spec) => spec.id));
    for (const row of rows) if (known.has(row.id)) rowsAfter.set(row.id, row);
    for (const row of dueRows.filter((candidate) => !known.has(candidate.id))) await deps.state.deleteLeafRow(name, row.id);
    records = await world.readLeaves(dueRows.map((row) => row.id));
  }
  const renewed = await renewDueRecords(deps, world, consumers, signer, state, records, scanned, rowsAfter, options);
  if (!scanned) return { renewed };
  for (const leaf of renewed) {
    const record = world.leaf(leaf.id);
    const row = record === undefined ? undefined : inventoryRow(name, record, deps.config.renewal);
    if (row === undefined) rowsAfter.delete(leaf.id);
    else rowsAfter.set(leaf.id, row);
  }
  return { renewed, earliestRows: [...rowsAfter.values()] };
}

async function renewDueRecords(
  deps: EngineDeps,
  world: AuthorityWorld,
  consumers: AuthorityConsumers,
  signer: number,
  state: RotationState,
  records: LeafRecord[],
  scanned: boolean,
  rowsAfter: Map<string, LeafInventoryRow>,
  options: { now: number; outOfTime?: () => boolean },
): Promise<DueLeaf[]> {
  const name = world.authority.name;
  const trusted = bundleOf(state);
  const due = dueLeaves(records.map((record) => record.condition), trusted, deps.config.renewal, options.now);
  if (scanned) {
    // A due row whose leaf is not due is stale (an intent row, or a run that died before writing
    // the row of a leaf it reissued): put the leaf's true row in its place, so it is not read again
    // every hour until the daily reconcile.
    const dueIds = new Set(due.map((leaf) => leaf.id));
    const corrected = records.filter((record) => !dueIds.has(record.spec.id)).map((record) => inventoryRow(name, record, deps.config.renewal));
    const rows = corrected.filter((row) => row !== undefined);
    await deps.state.putLeafRows(rows);
    for (const row of rows) rowsAfter.set(row.id, row);
  }
  if (due.length === 0) return [];
  // An expired signer issues nothing: the rotation under way (one starts when the CA nears its
  // expiry) reissues every leaf from the next CA, so this is reported, not failed, every run.
  if (world.caExpired(signer, options.now)) {
    deps.events.emit({ type: 'renewal-blocked', authority: name, detail: { leaves: due.length, reason: `CA ${signer} has expired; its leaves are reissued from the next CA by the rotation` } });
    return [];
  }
  // A leaf is reissued from the signer only if the published bundle trusts the signer. When it
  // does not, the state and the store disagree (a CA secret replaced, a state restored from an old
  // backup): reissuing would strand the leaf, or bring back a retired CA.
  if (await world.bundleDistrusts(signer)) {
    for (const leaf of due) {
      deps.events.emit({ type: 'leaf-problem', authority: name, detail: { leaf: leaf.id, problem: `${leaf.reason}; not reissued: the published bundle does not trust CA ${signer}` } });
    }
    return [];
  }
  const ids = due.map((leaf) => leaf.id);
  const outOfTime = options.outOfTime ?? (() => false);
  const reissued: string[] = [];
  if (world.hasCas(trusted)) {
    reissued.push(...(await reissueLeaves(deps, world, consumers, ids, signer, world.bundlePem(trusted, options.now), options.now, outOfTime)).reissued);
  } else {
    // A CA of the bundle is gone from the store (deleted by hand; the rotation step says so). Each
    // leaf is renewed keeping the trust its workload already reads, so it does not expire behind a
    // rotation that cannot move; a leaf with no secret to take that trust from waits.
    const byBundle = new Map<string, string[]>();
    for (const id of ids) {
      const bundlePem = world.leaf(id)?.secret?.bundlePem;
      if (bundlePem === undefined) continue;
      const group = byBundle.get(bundlePem);
      if (group === undefined) byBundle.set(bundlePem, [id]);
      else group.push(id);
    }
    for (const [bundlePem, group] of byBundle) {
      reissued.push(...(await reissueLeaves(deps, world, consumers, group, signer, bundlePem, options.now, outOfTime)).reissued);
    }
  }
  // Out of time, only some were reissued; the rest stay due for the next run.
  const done = new Set(reissued);
  const renewed = due.filter((leaf) => done.has(leaf.id));
  for (const leaf of renewed.filter((candidate) => candidate.reason !== 'expiring')) {
    deps.events.emit({ type: 'leaf-problem', authority: name, detail: { leaf: leaf.id, problem: leaf.reason } });
  }
  if (renewed.length > 0) deps.events.emit({ type: 'leaves-renewed', authority: name, detail: { count: renewed.length } });
  return renewed;
}

/**
 * Runs the renewals, then throws the step's failure if there was one. That failure stays the one
 * thrown (its type tells the handler what happened); a renewal that fails too is reported as an event.
 */
export async function renewAfter<T>(
  stepFailure: { error: unknown } | undefined,
  renewDue: () => Promise<T>,
  report: (renewalError: unknown) => void,
): Promise<T> {
  if (stepFailure === undefined) return renewDue();
  try {
    await renewDue();
  } catch (renewalError) {
    report(renewalError);
  }
  throw stepFailure.error;
}

/** Reconcile: make the inventory match the leaf secrets, and forget leaves no longer configured. */
export async function repairInventory(deps: EngineDeps, world: AuthorityWorld): Promise<void> {
  const name = world.authority.name;
  const existing = new Map((await deps.state.readAllLeafRows(name)).map((row) => [row.id, row]));
  const wanted: LeafInventoryRow[] = [];
  for (const record of world.records()) {
    const row = inventoryRow(name, record, deps.config.renewal);
    const stored = row === undefined ? undefined : existing.get(row.id);
    if (row !== undefined && (stored === undefined || stored.fingerprintSha256 !== row.fingerprintSha256 || stored.renewAt !== row.renewAt)) {
      wanted.push(row);
    }
  }
  await deps.state.putLeafRows(wanted);
  const known = new Set(world.specs.map((spec) => spec.id));
  for (const id of existing.keys()) if (!known.has(id)) await deps.state.deleteLeafRow(name, id);
}
