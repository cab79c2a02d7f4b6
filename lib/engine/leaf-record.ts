/** What a run keeps of each leaf secret (lib/engine/world.ts), and how many it reads or keeps at once. */
import type { LeafSpec } from '../config/index.js';
import type { LeafCondition } from '../renewal/index.js';

/** Leaf secrets read (or read again for a rewrite) at once: what bounds a run's memory. */
export const LEAF_PAGE = 200;
/**
 * Leaves a run keeps whole (certificate and key) besides those with copies: the first ten pages
 * read, about 6 MB. A fleet that fits is never read twice in a run (a rotation of 1,000 leaves costs
 * what it did); a larger one reads the rest again, a page at a time, when their `ca.crt` is rewritten.
 */
export const WHOLE_PAGES = 10;

/** What the tick keeps of a leaf secret that exists: not its certificate and key. */
export interface LeafSecret {
  /** The secret version it was read from (passing it back to writeLeaf saves a read). */
  versionId: string | undefined;
  /** `ca.crt`; every leaf holding the same bundle shares one string. */
  bundlePem: string;
}

/** One leaf secret as the tick knows it. */
export interface LeafRecord {
  spec: LeafSpec;
  /** Undefined when the secret does not exist or could not be read. */
  secret: LeafSecret | undefined;
  /** Set when the secret exists but could not be read as a leaf. */
  unreadable: string | undefined;
  condition: LeafCondition;
  /** Generations in the leaf's `ca.crt`; undefined when unreadable or missing. */
  holds: number[] | undefined;
  serialHex?: string;
  fingerprintSha256?: string;
}
