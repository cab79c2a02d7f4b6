/**
 * Adopting an existing CA (kubeadm's, an openssl-made one) as an authority's generation 1. The CA
 * is checked first (lib/pki/import.ts), then stored through the CertificateStore (its key goes into
 * the CA secret and nowhere else: no log, event, history entry or answer holds it), the leaves
 * already in the field that it signed are adopted (indexed from their certificates, not reissued
 * until due; read through the CertificateStore like every scan's reads, so an authority on
 * `leafStore: s3` adopts the objects in its leaf bucket), the bundle becomes [imported CA], and the
 * rotation state starts Stable on generation 1 with an `import-ca` history entry. From there the ticks run the normal lifecycle.
 *
 * Idempotent on the CA's fingerprint: importing the same CA again (a retry after a crash, or two
 * identical imports at once) answers what was imported and changes nothing; any other CA is
 * refused once the authority has a CA or a state. The state is written conditionally, so of two
 * concurrent imports exactly one is recorded; no lease is taken, and a tick that bootstraps in
 * between finds the imported CA stored as generation 1 and bootstraps onto it.
 */
import type { AuthorityConfig, CertrotateConfig } from '../config/index.js';
import { ConflictError } from '../errors.js';
import type { LeafInventoryRow, VersionedState } from '../ports.js';
import { CaDirectory, CaImportRefusedError, buildBundle, caSubject, checkImportableCa, parseCertificate, type Certificate } from '../pki/index.js';
import { renewAt } from '../renewal/index.js';
import { initialRotationState, type Actor, type RotationState, type Transition } from '../rotation/index.js';
import type { EngineDeps } from './deps.js';
import { findCommandEntry, iso, writeRotationState } from './history.js';

export interface ImportCaRequest {
  authority: string;
  certificatePem: string;
  privateKeyPem: string;
  chainPem?: string;
}

export interface ImportCaResult {
  authority: string;
  generation: number;
  fingerprintSha256: string;
  notAfter: number;
  /** The configured leaves whose secrets hold a live leaf signed by this CA (with its key), at the time of the answer. */
  adoptedLeaves: string[];
}

/** The generation an imported CA becomes: an authority is adopted before it has any CA. */
const IMPORTED_GENERATION = 1;
const MAX_ATTEMPTS = 5;

/** The request id of an import: derived from the CA, so the same CA imported again finds its entry. */
export function importRequestId(fingerprintSha256: string): string {
  return `import-ca-${fingerprintSha256.slice(0, 32)}`;
}

export async function importCa(deps: EngineDeps, config: CertrotateConfig, request: ImportCaRequest, now: number): Promise<ImportCaResult> {
  const authority = config.authorities.find((candidate) => candidate.name === request.authority);
  if (authority === undefined) {
    const known = config.authorities.map((candidate) => candidate.name).join(', ') || 'none';
    throw new CaImportRefusedError('unknown-authority', `authority "${request.authority}" is not in the configuration (configured: ${known})`);
  }
  const leafIds = config.leaves.filter((leaf) => leaf.authority === authority.name).map((leaf) => leaf.id);
  const longestLeafMs = Math.max(0, ...config.leaves.filter((leaf) => leaf.authority === authority.name).map((leaf) => leaf.lifetimeMs));
  const ca = checkImportableCa(request, now, longestLeafMs);
  assertNoSubjectClash(authority.name, ca.certificate);
  const fingerprint = ca.certificate.fingerprintSha256;
  const requestId = importRequestId(fingerprint);
  for (let attempt = 1; ; attempt++) {
    const record = await deps.state.readState(authority.name);
    if (record !== undefined && (await findCommandEntry(deps.state, authority.name, record.state, requestId)) !== undefined) {
      return answer(authority.name, ca.certificate, ids(await adoptableLeaves(deps, config, authority.name, leafIds, ca.certificate, now)));
    }
    await assertNoOtherCa(deps, authority, record, fingerprint);
    // Read before anything is written: a leaf store that cannot be read (no such bucket, no access) changes nothing.
    const rows = await adoptableLeaves(deps, config, authority.name, leafIds, ca.certificate, now);
    const stored = await deps.certificates.createCa({
      authority: authority.name,
      generation: IMPORTED_GENERATION,
      certificatePem: ca.certificate.pem,
      privateKeyPem: ca.privateKeyPem,
    });
    // Another writer stored its CA 1 first (a concurrent import of another CA, or a bootstrap).
    if (parseCertificate(stored.certificatePem).fingerprintSha256 !== fingerprint) refuseOtherCa(authority.name, stored.certificatePem);
    await deps.state.putLeafRows(rows);
    const adopted = ids(rows);
    await deps.certificates.writeBundle(authority.name, buildBundle([{ generation: IMPORTED_GENERATION, certificate: ca.certificate }], IMPORTED_GENERATION, now));
    const state = importedState(authority.name, record, ca.certificate, adopted, requestId, now);
    try {
      await writeRotationState(deps.state, authority.name, state, record ?? { state, version: undefined }, deps.historyBudget);
    } catch (error) {
      // Another import (or a tick) wrote first: read again; the same CA then answers as imported.
      if (error instanceof ConflictError && attempt < MAX_ATTEMPTS) continue;
      throw error;
    }
    deps.events.emit({
      type: 'ca-imported',
      authority: authority.name,
      detail: {
        generation: IMPORTED_GENERATION,
        subject: ca.certificate.subject,
        fingerprintSha256: fingerprint,
        notAfter: iso(ca.certificate.notAfter),
        adoptedLeaves: adopted,
        // The first tick starts a rotation at once when the CA is already within the lead time.
        rotationDue: now >= ca.certificate.notAfter - authority.rotation.rotationLeadMs,
      },
    });
    return answer(authority.name, ca.certificate, adopted);
  }
}

/**
 * Each generation has its own subject (verifiers tell CAs of one bundle apart by it). An imported CA
 * named as certrotate names a later generation of this authority (an old certrotate CA brought back)
 * would share its subject with the CA certrotate generates for that generation.
 */
function assertNoSubjectClash(authority: string, certificate: Certificate): void {
  const prefix = caSubject(authority, 0).replace(/0$/, '');
  const generation = certificate.subject.startsWith(prefix) ? Number(certificate.subject.slice(prefix.length)) : Number.NaN;
  if (!Number.isInteger(generation) || generation === IMPORTED_GENERATION) return;
  throw new CaImportRefusedError(
    'subject-clash',
    `CA ${certificate.describe()} has the subject certrotate gives CA generation ${generation} of authority ${authority}, which it will generate after the import: ` +
      'two CAs of one authority would share a subject; adopt a CA with another subject',
  );
}

function answer(authority: string, certificate: Certificate, adoptedLeaves: string[]): ImportCaResult {
  return { authority, generation: IMPORTED_GENERATION, fingerprintSha256: certificate.fingerprintSha256, notAfter: certificate.notAfter, adoptedLeaves };
}

function refuseOtherCa(authority: string, storedPem: string | undefined, why = 'has a CA already'): never {
  const described = storedPem === undefined ? '' : ` (${parseCertificate(storedPem).describe()})`;
  throw new CaImportRefusedError(
    'already-has-ca',
    `authority ${authority} ${why}${described}: a CA is adopted only into an authority certrotate has not started yet; ` +
      'to move an authority that runs to another CA, force a rotation (rotate-ca)',
  );
}

/**
 * Refuses when the authority has another CA or a state of its own. Allowed: nothing at all; a CA 1
 * that is this very CA (an import that crashed before recording, or one running now); a state that
 * a tick wrote on top of this CA 1 (it bootstrapped onto it before the import recorded).
 */
async function assertNoOtherCa(deps: EngineDeps, authority: AuthorityConfig, record: VersionedState<RotationState> | undefined, fingerprint: string): Promise<void> {
  const generations = await deps.certificates.listCaGenerations(authority.name);
  if (generations.some((generation) => generation !== IMPORTED_GENERATION)) {
    const newest = await deps.certificates.readCa(authority.name, Math.max(...generations));
    refuseOtherCa(authority.name, newest?.certificatePem, `has CA generations ${generations.join(', ')} already`);
  }
  const stored = generations.length === 0 ? undefined : await deps.certificates.readCa(authority.name, IMPORTED_GENERATION);
  if (stored !== undefined && parseCertificate(stored.certificatePem).fingerprintSha256 !== fingerprint) refuseOtherCa(authority.name, stored.certificatePem);
  if (record !== undefined && (stored === undefined || record.state.highestGeneration > IMPORTED_GENERATION)) {
    refuseOtherCa(authority.name, undefined, `has a rotation state already (generation ${record.state.generation}, phase ${record.state.phase})`);
  }
}

/**
 * The inventory rows of the stored leaves (secrets or leaf objects) of the authority that this CA
 * signed and whose key matches, made from their certificates (the caller writes them, after the
 * CA), so they are renewed when due like any leaf certrotate issued. Only reads. Leaves missing,
 * broken or from another issuer are left to the first tick, which reissues them from the imported
 * CA (DESIGN: reported and reissued, never skipped).
 */
async function adoptableLeaves(deps: EngineDeps, config: CertrotateConfig, authority: string, leafIds: readonly string[], certificate: Certificate, now: number): Promise<LeafInventoryRow[]> {
  if (leafIds.length === 0) return [];
  const { leaves } = await deps.certificates.readLeaves(authority, leafIds);
  const directory = CaDirectory.of([{ generation: IMPORTED_GENERATION, certificate }]);
  const rows: LeafInventoryRow[] = [];
  for (const leaf of leaves) {
    const exam = directory.examineLeaf(leaf.certificatePem, leaf.privateKeyPem);
    if (exam.problem !== undefined || exam.generation !== IMPORTED_GENERATION) continue;
    if (exam.notAfter === undefined || exam.serialHex === undefined || exam.fingerprintSha256 === undefined || exam.notAfter < now) continue;
    const { notAfter, serialHex, fingerprintSha256 } = exam;
    rows.push({ authority, id: leaf.id, renewAt: renewAt(leaf.id, notAfter, config.renewal), notAfter, generation: IMPORTED_GENERATION, serialHex, fingerprintSha256 });
  }
  return rows;
}

function ids(rows: readonly LeafInventoryRow[]): string[] {
  return rows.map((row) => row.id).sort();
}

/**
 * Stable on generation 1, nothing published yet as far as the state knows (so the first tick reads
 * every leaf and brings every consumer to [1]), with the import as its history entry. A state a
 * tick wrote on top of this CA keeps its history.
 */
function importedState(authority: string, record: VersionedState<RotationState> | undefined, certificate: Certificate, adopted: readonly string[], requestId: string, now: number): RotationState {
  const by: Actor = { kind: 'command', command: 'import-ca', requestId };
  const entry: Transition = {
    from: record?.state.phase ?? 'Stable',
    to: 'Stable',
    at: now,
    why:
      `imported: CA ${certificate.describe()}, SHA-256 ${certificate.fingerprintSha256}, valid until ${iso(certificate.notAfter)}, ` +
      `adopted as generation ${IMPORTED_GENERATION}; ${adopted.length} leaves in the field adopted`,
    by,
    generation: IMPORTED_GENERATION,
  };
  const base = initialRotationState(authority, now);
  const earlier = record?.state;
  return {
    ...base,
    generation: IMPORTED_GENERATION,
    highestGeneration: IMPORTED_GENERATION,
    history: [...(earlier?.history ?? []), entry],
    ...(earlier?.archivedHistory === undefined ? {} : { archivedHistory: earlier.archivedHistory }),
  };
}
