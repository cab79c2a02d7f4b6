/**
 * Which leaves are due for renewal. Pure: the caller passes the clock and the leaves it read.
 * A leaf is renewed a day before it expires, minus a per-leaf jitter so that thousands of leaves
 * issued together do not all renew in the same second (and hit the Secrets Manager write quota).
 */
import { ValidationError } from '../errors.js';

const HOUR = 60 * 60 * 1000;

export interface RenewalPolicy {
  /** Renew this long before notAfter (Kamaji: one day). */
  renewBeforeMs: number;
  /** Each leaf renews up to this much earlier still, by a fixed amount derived from its id. */
  jitterWindowMs: number;
}

export const defaultRenewalPolicy: RenewalPolicy = { renewBeforeMs: 24 * HOUR, jitterWindowMs: HOUR };

/** The policy's fields as the caller's source calls them, so a message names what to edit. */
export interface RenewalFieldNames {
  renewBefore: string;
  jitterWindow: string;
}

export function validateRenewalPolicy(policy: RenewalPolicy, names: RenewalFieldNames = { renewBefore: 'renewBeforeMs', jitterWindow: 'jitterWindowMs' }): void {
  if (!Number.isFinite(policy.renewBeforeMs) || policy.renewBeforeMs <= 0) {
    throw new ValidationError(`renewal policy: ${names.renewBefore} must be a positive finite number`);
  }
  if (!Number.isFinite(policy.jitterWindowMs) || policy.jitterWindowMs < 0) {
    throw new ValidationError(`renewal policy: ${names.jitterWindow} must be zero or a positive finite number`);
  }
}

/** 32-bit FNV-1a over the UTF-16 code units of `text`: stable across runs and machines. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** A whole number of ms in [0, windowMs), the same for the same leaf id every time. */
export function jitterOf(leafId: string, windowMs: number): number {
  if (windowMs <= 0) return 0;
  return Math.floor((fnv1a32(leafId) / 2 ** 32) * windowMs);
}

/** When the leaf is due: notAfter - renewBefore - jitter(leafId). */
export function renewAt(leafId: string, notAfter: number, policy: RenewalPolicy = defaultRenewalPolicy): number {
  return notAfter - policy.renewBeforeMs - jitterOf(leafId, policy.jitterWindowMs);
}

export type LeafProblem = 'missing' | 'unparsable' | 'key-mismatch' | 'untrusted-issuer';

/** A leaf as the scan found it. */
export interface LeafCondition {
  id: string;
  notAfter?: number;
  /** Issuing CA generation. */
  generation?: number;
  problem?: LeafProblem;
}

export type RenewalReason = 'expiring' | LeafProblem;

export interface DueLeaf {
  id: string;
  reason: RenewalReason;
  /** When it was due; absent when a problem makes it due now. */
  renewAt?: number;
}

/**
 * The leaves to reissue now, problems first, then the earliest due. A leaf with a problem is
 * always due: reported and reissued, never silently skipped. A leaf whose generation is not in
 * `trustedGenerations` (the current bundle), or unknown, is an untrusted issuer; a leaf without a
 * problem but without notAfter is unparsable.
 */
export function dueLeaves(
  leaves: readonly LeafCondition[],
  trustedGenerations: readonly number[],
  policy: RenewalPolicy,
  now: number,
): DueLeaf[] {
  const problems: DueLeaf[] = [];
  const expiring: DueLeaf[] = [];
  for (const leaf of leaves) {
    if (leaf.problem !== undefined) {
      problems.push({ id: leaf.id, reason: leaf.problem });
    } else if (leaf.notAfter === undefined) {
      problems.push({ id: leaf.id, reason: 'unparsable' });
    } else if (leaf.generation === undefined || !trustedGenerations.includes(leaf.generation)) {
      problems.push({ id: leaf.id, reason: 'untrusted-issuer' });
    } else {
      const at = renewAt(leaf.id, leaf.notAfter, policy);
      if (now >= at) expiring.push({ id: leaf.id, reason: 'expiring', renewAt: at });
    }
  }
  problems.sort((a, b) => compareIds(a.id, b.id));
  expiring.sort((a, b) => (a.renewAt ?? 0) - (b.renewAt ?? 0) || compareIds(a.id, b.id));
  return [...problems, ...expiring];
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
