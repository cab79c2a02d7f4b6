/**
 * The interfaces the core needs from the outside world. Adapters in lib/aws implement them against
 * AWS (or the local endpoints in lib/local, which speak the same wire protocols); tests of the pure
 * core use small in-memory fakes.
 */
import type { KeyObject } from 'node:crypto';
import type { AuthorityConfig } from './config/index.js';
import type { EksBundleTarget, EksLeafTarget, EksTarget, WorkloadRef } from './config/eks-targets.js';
import { CertrotateError } from './errors.js';
import type { KeyAlgorithm } from './pki/algorithms.js';
import type { CaSigner } from './pki/signer.js';
import type { Transition } from './rotation/types.js';

/**
 * A CA generation as stored: its certificate (PEM) and where its key is: a PKCS#8 PEM in the
 * secret (caKeyStore `secret`), or a KMS key that never leaves KMS (caKeyStore `kms`). Exactly one
 * of `privateKeyPem` and `keyArn` is set.
 */
export interface StoredCa {
  authority: string;
  generation: number;
  certificatePem: string;
  privateKeyPem?: string;
  keyArn?: string;
}

/**
 * The KMS keys that hold CA keys (caKeyStore `kms`): one asymmetric SIGN_VERIFY key per authority
 * generation, found by its alias, never two even with crashes and racing runs.
 */
export interface CaKeyService {
  /** The one key of this generation, created (tagged, aliased) unless a run made it before; and a signer for it. */
  keyFor(authority: string, generation: number, algorithm: KeyAlgorithm): Promise<{ keyArn: string; signer: CaSigner }>;
  /** A signer for a stored key whose public key (the CA certificate's) is known: no call until it signs. */
  signerFor(keyArn: string, publicKey: KeyObject): CaSigner;
  /** Stops the key signing (a retired or abandoned generation); nothing to do when it is already disabled or pending deletion. */
  disable(keyArn: string): Promise<void>;
  /** Schedules the key's deletion with the longest wait (30 days); nothing to do when it is already pending. */
  scheduleDeletion(keyArn: string): Promise<void>;
}

/** A leaf as workloads read it: the usual Kubernetes TLS secret keys. */
export interface StoredLeaf {
  authority: string;
  id: string;
  /** `tls.crt`: the leaf first, then any chain. */
  certificatePem: string;
  /** `tls.key`: PKCS#8 PEM. */
  privateKeyPem: string;
  /** `ca.crt`: the trust bundle this workload verifies its peers against. */
  bundlePem: string;
  /**
   * The version this was read from (a secret's VersionId; for a leaf object in S3, its ETag, what a
   * conditional write names); passing it back to writeLeaf saves a read.
   */
  versionId?: string;
}

/** A secret that exists but could not be read as what it should hold. */
export interface UnreadableSecret {
  authority: string;
  id: string;
  problem: string;
}

export interface CertificateStore {
  /** Generation numbers of the CAs stored for an authority, ascending. */
  listCaGenerations(authority: string): Promise<number[]>;
  readCa(authority: string, generation: number): Promise<StoredCa | undefined>;
  /**
   * Stores a CA generation once. If that generation already exists the stored one wins and is
   * returned, so a retried or concurrent generation never yields two different CAs N.
   */
  createCa(ca: StoredCa): Promise<StoredCa>;
  readBundle(authority: string): Promise<string | undefined>;
  writeBundle(authority: string, bundlePem: string): Promise<void>;
  /** Leaf ids stored for an authority. */
  listLeafIds(authority: string): Promise<string[]>;
  /** Reads many leaves; ids with no secret are absent from both lists. */
  readLeaves(
    authority: string,
    ids: readonly string[],
  ): Promise<{ leaves: StoredLeaf[]; unreadable: UnreadableSecret[] }>;
  /**
   * Makes `leaf` the current value of its secret. `previousVersionId` (from readLeaves) saves the
   * read of the current version; a stale one still writes correctly.
   */
  writeLeaf(leaf: StoredLeaf, previousVersionId?: string): Promise<void>;
  /**
   * After a change of the authority's leafStore: the leaves whose current copy is in the new store
   * and which still have an old copy in the other one (no longer written, so it will expire), and
   * that store's name. Undefined for a store with one place for leaves. O(leaves): `status --deep`.
   */
  staleLeafCopies?(authority: string): Promise<{ store: string; ids: string[] } | undefined>;
}

/** The per-authority record kept by the state store, with its optimistic version. */
export interface VersionedState<S> {
  state: S;
  version: number;
}

/** One inventory row per leaf: what a scan needs without reading the secret. */
export interface LeafInventoryRow {
  authority: string;
  id: string;
  /** Epoch ms at which the leaf is due for renewal. */
  renewAt: number;
  notAfter: number;
  /** Issuing CA generation. */
  generation: number;
  serialHex: string;
  fingerprintSha256: string;
}

/** A lease taken, with the state stored at that moment (undefined before the first write). */
export interface LeaseTaken<S> {
  stored: VersionedState<S> | undefined;
}

export interface StateStore<S> {
  readState(authority: string): Promise<VersionedState<S> | undefined>;
  /**
   * Writes the state if the stored version is still `expectedVersion` (`undefined`: no state
   * yet). Returns the new version; throws ConflictError when another writer got there first.
   */
  writeState(authority: string, state: S, expectedVersion: number | undefined): Promise<number>;
  /**
   * Takes or extends the authority's lease, and returns the state as it was when the lease was
   * taken (read in the same call, so a tick needs no read of its own); undefined when another
   * owner holds an unexpired lease.
   */
  acquireLease(authority: string, owner: string, now: number, durationMs: number): Promise<LeaseTaken<S> | undefined>;
  releaseLease(authority: string, owner: string): Promise<void>;
  putLeafRows(rows: readonly LeafInventoryRow[]): Promise<void>;
  readAllLeafRows(authority: string): Promise<LeafInventoryRow[]>;
  /**
   * Every row due by `dueBy` (renewAt <= dueBy, intent rows included), then the certificate rows
   * whose renewAt is within `withinMs` of the first one not due: with `withinMs` the renewal jitter
   * window, those hold the earliest notAfter of the rows not due. One read, in ascending renewAt,
   * for a scan's renewals and its expiry metric: a scan costs O(due), not O(all). Without `dueBy`,
   * only the rows near the earliest.
   */
  readEarliestLeafRows(authority: string, withinMs: number, dueBy?: number): Promise<LeafInventoryRow[]>;
  deleteLeafRow(authority: string, id: string): Promise<void>;
  /**
   * Stores history entries that leave the state (rotation/history.ts), entry i under sequence
   * `firstSequence + i`, and each command's entry also under its request id. Writing again
   * overwrites with the same content, so a retried archive is a no-op.
   */
  archiveHistory(authority: string, firstSequence: number, entries: readonly Transition[]): Promise<void>;
  /** The archived entry of the command with this request id, if one was archived. */
  readArchivedCommand(authority: string, requestId: string): Promise<Transition | undefined>;
  /**
   * The archived entries with a sequence below `before` (the state's `archivedHistory`), oldest
   * first. Entries at or above it were archived by a state write that then lost its race; the
   * state still holds their true values.
   */
  readArchivedHistory(authority: string, before: number): Promise<Transition[]>;
}

/** An operator request that the rotation history does not make idempotent by itself (today: `renew`). */
export interface LedgerEntry {
  authority: string;
  requestId: string;
  /** What the request asked for, e.g. `renew leaf api` or `renew all`: a reused id must match it. */
  intent: string;
  startedAt: number;
  /** Set once the request completed: the JSON result to replay. */
  result?: string;
}

/** Remembers requests by id, so a retried request replays its answer instead of acting twice. */
export interface RequestLedger {
  /** Records the request, or returns the entry already recorded under its id. */
  begin(entry: Omit<LedgerEntry, 'result'>): Promise<{ entry: LedgerEntry; created: boolean }>;
  /** Records the result; false (and nothing written) when the request already has one: the first answer stays. */
  complete(authority: string, requestId: string, result: string): Promise<boolean>;
  /** The entry recorded under this request id, if any. */
  find(authority: string, requestId: string): Promise<LedgerEntry | undefined>;
}

/** Where the core reports what it did; an adapter may forward to EventBridge or a log. */
export interface EventSink {
  emit(event: { type: string; authority: string; detail: Record<string, unknown> }): void;
}

/** The only source of time: handlers pass the wall clock, the simulation a simulated one. */
export interface Clock {
  now(): number;
}

// ---------------------------------------------------------------------------------------------
// Consumers: every place that holds an authority's trust bundle (and maybe a copy of a leaf). Each
// kind (lib/consumers/<kind>/) implements the one port below; the engine gates every phase on all
// of an authority's consumers without knowing their kinds.

/** What a consumer holds, as read back: `ca.crt`, and for a leaf copy `tls.crt` and `tls.key`. */
export type HeldContent = Readonly<Record<string, string>>;

/**
 * What a consumer holds as this run sees it: its content; `undefined` when it holds nothing yet;
 * `unreadable` when it exists but cannot be read; `unobserved` when it is not counted now (what it
 * lives in was not read in this run, or does not exist).
 */
export type Holding = HeldContent | undefined | 'unreadable' | 'unobserved';

/**
 * The certificate store as one run has read it, kept in step with the run's own writes. Consumers
 * that are the store's own secrets (lib/consumers/secrets) answer from it instead of reading again,
 * and tell it what they wrote.
 */
export interface StoreReads {
  /** The configured leaf ids of the authority, in configuration order. */
  readonly leafIds: readonly string[];
  /** True once the bundle secret and every leaf secret were read. */
  readonly complete: boolean;
  /** The bundle secret's PEM; undefined when there is none, `unreadable` when it cannot be read. */
  bundle(): { pem: string } | undefined | 'unreadable';
  /**
   * A leaf secret's `ca.crt`, as read or written by the run: undefined when there is none or it was
   * not read, `unreadable` when it cannot be read. (A run keeps no leaf's certificate and key: its
   * memory is bounded by the work in flight, not the fleet.)
   */
  leafBundle(id: string): { pem: string } | undefined | 'unreadable';
  /**
   * The whole leaf secret, to rewrite its `ca.crt` with `bundlePem`: read now (in a page with the
   * leaves that come next and need the same rewrite); undefined when there is none or it cannot be read.
   */
  leafForRewrite(id: string, bundlePem: string): Promise<StoredLeaf | undefined>;
  /**
   * The whole secret of a leaf with copies, as read or written by the run (a run reads them before
   * it reads its consumers back); undefined when it was not read, is missing, or cannot be read.
   */
  wholeLeaf(id: string): StoredLeaf | undefined;
  /**
   * A bundle another service handed back re-encoded (line endings, wrapping, whitespace, order), in
   * certrotate's stored form when it holds exactly distinct CAs of the authority (compared as DER);
   * undefined otherwise (an extra or foreign CA, a duplicate, garbage). Consumers that read back a
   * service's copy answer this, so `exact` matching compares certificates, not bytes.
   */
  storedFormOf(bundlePem: string): string | undefined;
  wroteBundle(generations: readonly number[], bundlePem: string): void;
  /** After its `ca.crt` alone was rewritten (its certificate and key are unchanged). */
  wroteLeafBundle(stored: StoredLeaf): void;
}

/** What a composition root's kinds get to build an authority's consumers for one run. */
export interface ConsumerRun {
  store: CertificateStore;
  reads: StoreReads;
}

/** What a write did. */
export interface ConsumerWrite {
  /** False when the consumer already held exactly this (nothing written). */
  changed: boolean;
  /** Workloads restarted to pick it up, and those named for restart that do not exist (`Deployment/api`). */
  restarted: string[];
  missing: string[];
}

/**
 * One consumer of one authority. It reads back what it holds and publishes a bundle or a leaf; a
 * failure is a ConsumerUnavailableError (its whole `scope` is then not asked again in this run), a
 * ConsumerRejectedError or a ConflictError: the engine records it, and only this authority's gates
 * wait. Anything else is a bug and propagates.
 */
export interface Consumer {
  /** Stable and unique among the authority's consumers: `eks:prod-eu/kube-system/cluster-ca`. */
  readonly id: string;
  /** How status lines name it: `prod-eu kube-system/cluster-ca`. */
  readonly name: string;
  /** Consumers that fail together (one cluster, one region's service). */
  readonly scope: string;
  /** Where it lives, as its failure reports say it (`{ clusterName, region }`). */
  readonly location: Readonly<Record<string, string>>;
  /** The leaf it carries a copy of (`tls.crt`, `tls.key`, `ca.crt`); undefined when it holds the bundle alone. */
  readonly leaf: string | undefined;
  /** True when writing its leaf again, unchanged, finishes a restart of workloads a crash may have cut short. */
  readonly restartsWorkloads: boolean;
  /**
   * How what it holds is counted: `exact` counts the generations of a `ca.crt` only when it is
   * exactly the bundle certrotate writes for them (anything else holds nothing); `loose` counts
   * every CA of the authority found in it.
   */
  readonly matching: 'exact' | 'loose';
  /**
   * False for certrotate's own secrets: lagging consumers are named (status, ConsumersLagging) and
   * each write is an event only for external ones; the store's writes are reported as a whole.
   * An external consumer counts as holding only what its read-back shows (`readBack`, asked again
   * right after each write), never what was written to it: a trust store or an API Gateway domain
   * applies a change on its own time, and an emergency rotation has no soak to cover that. The
   * store's own secrets count their writes.
   */
  readonly external: boolean;
  /** Reads what it holds, once a run and again after each write to it; undefined when it holds nothing yet. Not called when `current` exists. */
  readBack(): Promise<HeldContent | undefined>;
  /** For a consumer the run has already read (StoreReads): what it holds at this moment, asked at every observation. */
  current?(): Holding;
  publishBundle(pem: string, generations: readonly number[]): Promise<ConsumerWrite>;
  publishLeaf(content: LeafContent, generation: number): Promise<ConsumerWrite>;
}

/** Every consumer of an authority, of every registered kind: built in the composition roots. */
export type ConsumerRegistry = (authority: AuthorityConfig, run: ConsumerRun) => Consumer[];

// The EKS kind's own port: Kubernetes Secrets and ConfigMaps in EKS clusters, written through the
// adapter lib/aws/eks-publisher.ts.

/** `tls.crt`, `tls.key`, `ca.crt`: what a leaf Secret holds. */
export interface LeafContent {
  'tls.crt': string;
  'tls.key': string;
  'ca.crt': string;
}

/** What a read returned: the data exactly (decoded from base64 for Secrets). */
export interface ReadBack {
  data: Record<string, string>;
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface PublishResult {
  /** False when the object already held exactly this content and metadata (nothing written). */
  changed: boolean;
  resourceVersion: string;
  restarted: WorkloadRef[];
  /** Workloads named for restart that the cluster does not have. */
  missingWorkloads: WorkloadRef[];
}

/**
 * Publishes an authority's bundle and leaves to Kubernetes objects in EKS clusters, and reads back
 * what they hold. A cluster that cannot be reached (after the adapter's own retries) is a
 * ConsumerUnavailableError; one that answers with a refusal retrying will not change is a
 * ConsumerRejectedError; a write that lost a race twice is a ConflictError.
 */
export interface ConsumerPublisher {
  publishBundle(target: EksBundleTarget, pem: string, generations: readonly number[]): Promise<PublishResult>;
  publishLeaf(target: EksLeafTarget, content: LeafContent, generation: number): Promise<PublishResult>;
  /** Undefined when the object does not exist. */
  readBack(target: EksTarget): Promise<ReadBack | undefined>;
}

/** A cluster could not be reached or refused us (after retries): its gates wait, nothing else does. */
export class ConsumerUnavailableError extends CertrotateError {
  override name = 'ConsumerUnavailableError';
  constructor(
    readonly clusterName: string,
    readonly region: string,
    /** The last HTTP status, when the cluster answered at all. */
    readonly status: number | undefined,
    readonly attempts: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`EKS cluster ${clusterName} (${region}) is unavailable after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${detail}`, options);
  }
}

/**
 * What a consumer reported about what it holds, one item each (API Gateway's truststore warnings),
 * under a label that reads after the consumer's name (`truststore warnings`). The engine shows
 * them in status, ConsumersLagging and events, bounded and quoted; never put key material in them.
 */
export interface ConsumerFindings {
  label: string;
  items: readonly string[];
}

/** The cluster answered, and the answer will not change by retrying (missing namespace, invalid object). */
export class ConsumerRejectedError extends CertrotateError {
  override name = 'ConsumerRejectedError';
  constructor(
    readonly clusterName: string,
    readonly status: number,
    readonly reason: string,
    message: string,
    /** What the consumer reported, when the refusal is its own verdict on what it holds. */
    readonly findings?: ConsumerFindings,
  ) {
    super(message);
  }
}
