import type { StoredLeaf, UnreadableSecret } from '../ports.js';

/**
 * The JSON a stored secret or leaf object holds (`{"tls.crt", "tls.key", "ca.crt"}` and the like),
 * parsed and checked for the wanted string keys. Problems are described without the content: it
 * holds private keys (and JSON.parse messages quote the input).
 */

/** `label` names what was read in the problem (`secret <name>`, `object s3://bucket/key`). */
export function parseStoredJson<K extends string>(
  label: string,
  text: string | undefined,
  keys: readonly K[],
): { ok: true; value: Record<K, string> } | { ok: false; problem: string } {
  if (text === undefined) {
    return { ok: false, problem: `${label} holds no SecretString (a binary value?); expected JSON with ${keys.join(', ')}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, problem: `${label} is not valid JSON; expected an object with ${keys.join(', ')}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, problem: `${label} is JSON but not an object; expected ${keys.join(', ')}` };
  }
  const value: Partial<Record<K, string>> = {};
  const missing: string[] = [];
  for (const key of keys) {
    const field: unknown = Object.getOwnPropertyDescriptor(parsed, key)?.value;
    if (typeof field === 'string' && field.length > 0) value[key] = field;
    else missing.push(key);
  }
  if (missing.length > 0 || !hasAll(value, keys)) {
    return { ok: false, problem: `${label} lacks a non-empty string for ${missing.join(', ')}` };
  }
  return { ok: true, value };
}

function hasAll<K extends string>(value: Partial<Record<K, string>>, keys: readonly K[]): value is Record<K, string> {
  return keys.every((key) => typeof value[key] === 'string');
}

/** A leaf as its secret or object holds it: the usual Kubernetes TLS secret keys, in this order. */
export function leafJson(leaf: { certificatePem: string; privateKeyPem: string; bundlePem: string }): string {
  return JSON.stringify({ 'tls.crt': leaf.certificatePem, 'tls.key': leaf.privateKeyPem, 'ca.crt': leaf.bundlePem });
}

export const LEAF_KEYS = ['tls.crt', 'tls.key', 'ca.crt'] as const;

/** readLeaves' answer from what was read per id: in the order of `ids`, ids with nothing stored left out. */
export function inIdOrder(ids: readonly string[], byId: ReadonlyMap<string, StoredLeaf | UnreadableSecret>): { leaves: StoredLeaf[]; unreadable: UnreadableSecret[] } {
  const leaves: StoredLeaf[] = [];
  const unreadable: UnreadableSecret[] = [];
  for (const id of ids) {
    const entry = byId.get(id);
    if (entry === undefined) continue;
    if ('problem' in entry) unreadable.push(entry);
    else leaves.push(entry);
  }
  return { leaves, unreadable };
}
