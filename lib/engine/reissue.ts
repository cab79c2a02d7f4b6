/**
 * The one path every reissue takes (rotation, renewal, the renew command), and the inventory rows
 * that index what it wrote.
 */
import type { CertrotateConfig, LeafSpec } from '../config/index.js';
import { CertrotateError } from '../errors.js';
import { CaSignerError } from '../pki/index.js';
import type { LeafInventoryRow } from '../ports.js';
import { renewAt } from '../renewal/index.js';
import { forEachConcurrent } from './concurrency.js';
import type { AuthorityConsumers } from './consumers.js';
import type { EngineDeps } from './deps.js';
import { LEAF_PAGE, type AuthorityWorld, type LeafRecord } from './world.js';

export function inventoryRow(authority: string, record: LeafRecord, policy: CertrotateConfig['renewal']): LeafInventoryRow | undefined {
  const { condition } = record;
  const { notAfter, generation } = condition;
  const { serialHex, fingerprintSha256 } = record;
  if (notAfter === undefined || generation === undefined || serialHex === undefined || fingerprintSha256 === undefined) return undefined;
  return { authority, id: condition.id, renewAt: renewAt(condition.id, notAfter, policy), notAfter, generation, serialHex, fingerprintSha256 };
}

/** A leaf issuance refused (a typed error of lib/pki or lib/config): it holds back only itself. */
export interface UnissuableLeaf {
  id: string;
  /** Where the leaf is in the configuration, e.g. `config.leaves[3]`. */
  path: string;
  problem: string;
}

/**
 * Issues each leaf from `generation` with `bundlePem` as its ca.crt, writes it, pushes its EKS
 * copies, and indexes it: the one path every reissue takes (rotation, renewal, the renew command).
 * A leaf that cannot be issued is reported (an event naming it and its configuration path, every
 * run) and skipped: the others are issued, and the gate that needs it waits.
 */
export async function reissueLeaves(
  deps: EngineDeps,
  world: AuthorityWorld,
  consumers: AuthorityConsumers,
  ids: readonly string[],
  generation: number,
  bundlePem: string,
  now: number,
  outOfTime: () => boolean,
): Promise<{ complete: boolean; reissued: string[]; unissuable: UnissuableLeaf[] }> {
  const issuer = world.issuerFor(generation);
  const name = world.authority.name;
  // A leaf with no secret may have no inventory row either: were the run to die between writing
  // its secret and its row, no hourly scan would find it. An intent row, due now, comes first;
  // the next scan reads the leaf behind it and puts the true row in its place.
  const unindexed = ids.filter((id) => world.leaf(id)?.secret === undefined);
  await deps.state.putLeafRows(unindexed.map((id) => intentRow(name, id, now)));
  const rows: LeafInventoryRow[] = [];
  const reissued: string[] = [];
  const unissuable: UnissuableLeaf[] = [];
  const result = await forEachConcurrent(ids, deps.writeConcurrency ?? 8, async (id) => {
    const spec = world.spec(id);
    if (spec === undefined) return;
    let issued;
    try {
      issued = await issuer.issueLeaf(leafRequest(spec), now);
    } catch (error) {
      // Only what is about this leaf holds back only this leaf; a signer that cannot sign fails the step.
      if (!(error instanceof CertrotateError) || error instanceof CaSignerError || now > issuer.certificate.notAfter) throw error;
      const refused = { id, path: `config.leaves[${deps.config.leaves.indexOf(spec)}]`, problem: error.message };
      unissuable.push(refused);
      deps.events.emit({ type: 'leaf-unissuable', authority: name, detail: { leaf: id, path: refused.path, problem: refused.problem } });
      return;
    }
    const previous = world.leaf(id)?.secret;
    const stored = { authority: name, id, certificatePem: issued.certificatePem, privateKeyPem: issued.privateKeyPem, bundlePem };
    await deps.certificates.writeLeaf(stored, previous?.versionId);
    reissued.push(id);
    // One event per leaf, so a workload can react to its own leaf (restart, reload); never the key.
    deps.events.emit({ type: 'leaf-reissued', authority: name, detail: { leaf: id, generation, notAfter: new Date(issued.notAfter).toISOString(), serialHex: issued.serialHex } });
    const facts = { generation, notAfter: issued.notAfter, serialHex: issued.serialHex, fingerprintSha256: issued.fingerprintSha256 };
    const row = inventoryRow(name, world.wroteLeaf(spec, stored, facts), deps.config.renewal);
    if (row !== undefined) rows.push(row);
    await consumers.pushLeaf(stored, generation);
    // Indexed a page at a time: what a long step holds stays bounded, and a run cut short keeps its rows.
    if (rows.length >= (deps.leafPageSize ?? LEAF_PAGE)) await deps.state.putLeafRows(rows.splice(0));
  }, outOfTime);
  await deps.state.putLeafRows(rows);
  return { ...result, reissued, unissuable };
}

/** A row that says only "look at this leaf at the next scan"; its other facts are never trusted. */
function intentRow(authority: string, id: string, now: number): LeafInventoryRow {
  return { authority, id, renewAt: now, notAfter: now, generation: 0, serialHex: '', fingerprintSha256: '' };
}

/** True for a row written before its leaf was issued: it describes no certificate. */
export function isIntentRow(row: LeafInventoryRow): boolean {
  return row.fingerprintSha256 === '';
}

function leafRequest(spec: LeafSpec) {
  return {
    subject: spec.subject,
    dnsNames: spec.dnsNames,
    ipAddresses: spec.ipAddresses,
    uris: spec.uris,
    usage: spec.usage,
    lifetimeMs: spec.lifetimeMs,
    algorithm: spec.algorithm,
  };
}
