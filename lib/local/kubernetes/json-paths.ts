/** JSON helpers for objects and field paths: canonical form, leaf fields, get/set/delete by path, merge patch. */
import { isRecord, type Json } from '../kit/json-protocol.js';

export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** JSON with sorted keys: equal values give equal strings. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

type FieldPath = string[];
const pathKey = (path: FieldPath): string => JSON.stringify(path);
export function parsePathKey(key: string): FieldPath {
  const parsed: unknown = JSON.parse(key);
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

/** The user-owned part of an object: everything but identity and server-managed metadata. */
export function userContent(object: Json): Json {
  const content: Json = {};
  for (const [key, value] of Object.entries(object)) {
    if (key !== 'apiVersion' && key !== 'kind' && key !== 'metadata' && key !== 'status') content[key] = value;
  }
  const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
  const meta: Json = {};
  if (isRecord(metadata['labels'])) meta['labels'] = metadata['labels'];
  if (isRecord(metadata['annotations'])) meta['annotations'] = metadata['annotations'];
  if (Object.keys(meta).length > 0) content['metadata'] = meta;
  return content;
}

/** Leaf fields (scalars and lists; lists are atomic) with their values. */
export function flatten(value: Json, prefix: FieldPath = [], into = new Map<string, unknown>()): Map<string, unknown> {
  for (const [key, field] of Object.entries(value)) {
    const path = [...prefix, key];
    if (isRecord(field) && Object.keys(field).length > 0) flatten(field, path, into);
    else into.set(pathKey(path), field);
  }
  return into;
}

export function getPath(object: Json, path: FieldPath): unknown {
  let current: unknown = object;
  for (const segment of path) {
    if (!isRecord(current)) return undefined;
    current = current[segment];
  }
  return current;
}

export function setPath(object: Json, path: FieldPath, value: unknown): void {
  let current = object;
  for (const segment of path.slice(0, -1)) {
    const next = current[segment];
    if (isRecord(next)) current = next;
    else {
      const created: Json = {};
      current[segment] = created;
      current = created;
    }
  }
  const last = path.at(-1);
  if (last !== undefined) current[last] = clone(value);
}

/** Deletes a field, then any map it leaves empty (the API omits empty maps). */
export function deletePath(object: Json, path: FieldPath): void {
  for (let depth = path.length; depth > 0; depth -= 1) {
    const parent = getPath(object, path.slice(0, depth - 1));
    const key = path[depth - 1];
    if (!isRecord(parent) || key === undefined) return;
    const child = parent[key];
    if (depth < path.length && !(isRecord(child) && Object.keys(child).length === 0)) return;
    // metadata itself always stays.
    if (depth === 1 && key === 'metadata') return;
    delete parent[key];
  }
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  const result: Json = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}
