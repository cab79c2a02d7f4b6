/**
 * The interfaces the core needs from the outside world. Adapters in lib/aws implement them against
 * AWS (or the local endpoints in lib/local, which speak the same wire protocols); tests of the pure
 * core use small in-memory fakes.
 */

/** A CA generation as stored: certificate and PKCS#8 key, both PEM. */
export interface StoredCa {
  authority: string;
  generation: number;
  certificatePem: string;
  privateKeyPem: string;
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
  /** The secret version this was read from; passing it back to writeLeaf saves a read. */
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

export interface StateStore<S> {
  readState(authority: string): Promise<VersionedState<S> | undefined>;
  /**
   * Writes the state if the stored version is still `expectedVersion` (`undefined`: no state
   * yet). Returns the new version; throws ConflictError when another writer got there first.
   */
  writeState(authority: string, state: S, expectedVersion: number | undefined): Promise<number>;
  /** Takes or extends the authority's lease; false when another owner holds an unexpired one. */
  acquireLease(authority: string, owner: string, now: number, durationMs: number): Promise<boolean>;
  releaseLease(authority: string, owner: string): Promise<void>;
  putLeafRows(rows: readonly LeafInventoryRow[]): Promise<void>;
  /** Only the rows with renewAt <= now: a scan costs O(due), not O(all). */
  readDueLeafRows(authority: string, now: number): Promise<LeafInventoryRow[]>;
  readAllLeafRows(authority: string): Promise<LeafInventoryRow[]>;
  deleteLeafRow(authority: string, id: string): Promise<void>;
}

/** Where the core reports what it did; an adapter may forward to EventBridge or a log. */
export interface EventSink {
  emit(event: { type: string; authority: string; detail: Record<string, unknown> }): void;
}

/** The only source of time: handlers pass the wall clock, the simulation a simulated one. */
export interface Clock {
  now(): number;
}
