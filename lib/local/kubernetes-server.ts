/**
 * A small Kubernetes API endpoint, because there is no kube-apiserver here. It speaks the real
 * REST shapes for what certrotate does to a cluster, so the EKS publisher runs unchanged against
 * it: HTTPS on 127.0.0.1 with its own CA, bearer tokens checked by a verifier callback (EKS: the
 * token's presigned URL replayed to STS), Secrets and ConfigMaps in namespaces, and Deployments,
 * StatefulSets and DaemonSets minimally (enough for `kubectl rollout restart`).
 *
 * Verbs: GET (object, collection), POST (create), PUT (update, resourceVersion precondition), PATCH
 * as server-side apply (`application/apply-patch+yaml`, JSON body, `fieldManager` required,
 * `force`) or as a JSON merge patch (`application/merge-patch+json`, and
 * `application/strategic-merge-patch+json` treated as a merge patch), DELETE.
 *
 * Server-side apply tracks field ownership per manager (metadata.managedFields, FieldsV1): a field
 * owned by another manager with a different value is a 409 conflict unless `force=true`, and fields
 * a manager applied before but no longer applies are removed. Simplifications: lists are atomic,
 * no defaulting beyond Secret `type: Opaque`, no watch, no label selectors, no admission.
 */
import { listenOnLoopback, readBody } from './kit/http.js';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Issuer, generateCa } from '../pki/index.js';

type Json = Record<string, unknown>;

export interface KubeUser {
  username: string;
  uid?: string;
  groups?: string[];
}

/** Resolves a bearer token to a user, or undefined when the token is not valid (401). */
export type TokenVerifier = (token: string) => Promise<KubeUser | undefined>;

export type KubeVerb = 'get' | 'list' | 'create' | 'update' | 'patch' | 'delete';

export interface KubeRequestAttributes {
  verb: KubeVerb;
  /** Plural resource: `secrets`, `configmaps`, `deployments`, `namespaces`, ... */
  resource: string;
  namespace: string;
  name: string | undefined;
}

/** A fault answered instead of running the request (after authentication). */
export interface KubeFault {
  code: number;
  reason: string;
  message: string;
}

/** `refuse`: nothing listens (ECONNREFUSED); `unavailable`: every request gets 503; `hang`: requests are never answered. */
export type DownMode = 'refuse' | 'unavailable' | 'hang';

export interface LocalKubernetesOptions {
  /** Namespaces that exist; objects elsewhere get 404. */
  namespaces: readonly string[];
  verifyToken: TokenVerifier;
  /** RBAC stand-in: false answers 403 Forbidden. Everything is allowed when absent. */
  authorize?: (user: KubeUser, request: KubeRequestAttributes) => boolean;
  faults?: (request: KubeRequestAttributes & { method: string }) => KubeFault | undefined;
  /** Clock for timestamps, epoch ms. */
  now?: () => number;
  port?: number;
  /** Names the server's CA (lowercase letters, digits, dashes). */
  name?: string;
}

export interface KubeRequestRecord {
  method: string;
  path: string;
  status: number;
  user?: string;
}

export interface LocalKubernetes {
  /** `https://127.0.0.1:PORT` */
  endpoint: string;
  /** The CA that signed the serving certificate: what a client must trust. */
  caPem: string;
  /** base64 of caPem: the form EKS DescribeCluster's `certificateAuthority.data` takes. */
  caData: string;
  goDown(mode?: DownMode): Promise<void>;
  comeBack(): Promise<void>;
  down(): DownMode | undefined;
  /** Requests received since start or the last reset, whatever their answer. */
  requestCount(): number;
  requests(): KubeRequestRecord[];
  resetRequests(): void;
  /** The stored object as the API would return it, for assertions. */
  object(resource: string, namespace: string, name: string): Json | undefined;
  stop(): Promise<void>;
}

interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  /** Workloads get metadata.generation bumped when their spec changes. */
  hasGeneration: boolean;
}

const RESOURCES: readonly ResourceType[] = [
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', hasGeneration: false },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', hasGeneration: false },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', hasGeneration: true },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', hasGeneration: true },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', hasGeneration: true },
];

const apiVersionOf = (type: ResourceType): string => (type.group === '' ? type.version : `${type.group}/${type.version}`);

const MAX_BODY_BYTES = 3 * 1024 * 1024;
const MAX_DATA_BYTES = 1024 * 1024;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DATA_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const LABEL_NAME = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(?=.{0,63}$)(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// ---------------------------------------------------------------------------------------------
// Errors in the API's own shape: a `kind: Status` object.

interface Cause {
  reason: string;
  message: string;
  field: string;
}

class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Json,
  ) {
    super(message);
  }

  body(): Json {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details === undefined ? {} : { details: this.details }),
      code: this.code,
    };
  }
}

const notFound = (plural: string, name: string): StatusError =>
  new StatusError(404, 'NotFound', `${plural} "${name}" not found`, { name, kind: plural });
const badRequest = (message: string): StatusError => new StatusError(400, 'BadRequest', message);
const conflict = (plural: string, name: string, group: string): StatusError =>
  new StatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${group === '' ? plural : `${plural}.${group}`} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, ...(group === '' ? {} : { group }), kind: plural },
  );

function invalid(type: ResourceType, name: string, causes: Cause[]): StatusError {
  return new StatusError(
    422,
    'Invalid',
    `${type.kind} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
    { name, ...(type.group === '' ? {} : { group: type.group }), kind: type.kind, causes },
  );
}

// ---------------------------------------------------------------------------------------------
// JSON helpers.

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** JSON with sorted keys: equal values give equal strings. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

type FieldPath = string[];
const pathKey = (path: FieldPath): string => JSON.stringify(path);
function parsePathKey(key: string): FieldPath {
  const parsed: unknown = JSON.parse(key);
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

/** The user-owned part of an object: everything but identity and server-managed metadata. */
function userContent(object: Json): Json {
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
function flatten(value: Json, prefix: FieldPath = [], into = new Map<string, unknown>()): Map<string, unknown> {
  for (const [key, field] of Object.entries(value)) {
    const path = [...prefix, key];
    if (isRecord(field) && Object.keys(field).length > 0) flatten(field, path, into);
    else into.set(pathKey(path), field);
  }
  return into;
}

function getPath(object: Json, path: FieldPath): unknown {
  let current: unknown = object;
  for (const segment of path) {
    if (!isRecord(current)) return undefined;
    current = current[segment];
  }
  return current;
}

function setPath(object: Json, path: FieldPath, value: unknown): void {
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
function deletePath(object: Json, path: FieldPath): void {
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
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  const result: Json = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Validation, per kind, with the API's field paths.

function validateMetadata(object: Json, causes: Cause[]): void {
  const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
  for (const which of ['labels', 'annotations'] as const) {
    const map = metadata[which];
    if (map === undefined) continue;
    if (!isRecord(map)) {
      causes.push({ reason: 'FieldValueInvalid', message: 'must be a map of strings', field: `metadata.${which}` });
      continue;
    }
    for (const [key, value] of Object.entries(map)) {
      const slash = key.lastIndexOf('/');
      const prefix = slash < 0 ? undefined : key.slice(0, slash);
      const name = slash < 0 ? key : key.slice(slash + 1);
      if (!LABEL_NAME.test(name) || (prefix !== undefined && !DNS_SUBDOMAIN.test(prefix))) {
        causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.'`, field: `metadata.${which}` });
      }
      if (typeof value !== 'string') {
        causes.push({ reason: 'FieldValueInvalid', message: 'must be a string', field: `metadata.${which}.${key}` });
      } else if (which === 'labels' && !LABEL_VALUE.test(value)) {
        causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', at most 63 characters`, field: `metadata.labels` });
      }
    }
  }
}

function validateDataMap(map: unknown, field: string, base64: boolean, causes: Cause[]): number {
  if (map === undefined) return 0;
  if (!isRecord(map)) {
    causes.push({ reason: 'FieldValueInvalid', message: 'must be a map', field });
    return 0;
  }
  let size = 0;
  for (const [key, value] of Object.entries(map)) {
    if (!DATA_KEY.test(key)) {
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${key}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`, field: `${field}[${key}]` });
    }
    if (typeof value !== 'string' || (base64 && !BASE64.test(value))) {
      causes.push({ reason: 'FieldValueInvalid', message: base64 ? 'must be a base64-encoded string' : 'must be a string', field: `${field}[${key}]` });
      continue;
    }
    size += base64 ? Buffer.from(value, 'base64').length : Buffer.byteLength(value, 'utf8');
  }
  return size;
}

function validate(type: ResourceType, object: Json, previous: Json | undefined): void {
  const causes: Cause[] = [];
  validateMetadata(object, causes);
  if (type.kind === 'Secret') {
    const size = validateDataMap(object['data'], 'data', true, causes);
    if (size > MAX_DATA_BYTES) causes.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_DATA_BYTES} bytes`, field: 'data' });
    const secretType = object['type'];
    if (typeof secretType !== 'string') causes.push({ reason: 'FieldValueInvalid', message: 'must be a string', field: 'type' });
    if (previous !== undefined && previous['type'] !== secretType) {
      causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable', field: 'type' });
    }
    if (secretType === 'kubernetes.io/tls') {
      const data = isRecord(object['data']) ? object['data'] : {};
      for (const key of ['tls.crt', 'tls.key']) {
        if (!(key in data)) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `data[${key}]` });
      }
    }
  } else if (type.kind === 'ConfigMap') {
    const size = validateDataMap(object['data'], 'data', false, causes) + validateDataMap(object['binaryData'], 'binaryData', true, causes);
    if (size > MAX_DATA_BYTES) causes.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_DATA_BYTES} bytes`, field: 'data' });
    const data = isRecord(object['data']) ? object['data'] : {};
    const binary = isRecord(object['binaryData']) ? object['binaryData'] : {};
    for (const key of Object.keys(data)) {
      if (key in binary) causes.push({ reason: 'FieldValueInvalid', message: 'duplicate of key present in binaryData', field: `data[${key}]` });
    }
  } else if (!isRecord(object['spec'])) {
    causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec' });
  }
  if (causes.length > 0) {
    const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
    throw invalid(type, typeof metadata['name'] === 'string' ? metadata['name'] : '', causes);
  }
}

/** Secret `stringData` is write-only: merged into `data` (base64) on every write. */
function normalize(type: ResourceType, object: Json): void {
  if (type.kind !== 'Secret') return;
  const stringData = object['stringData'];
  if (isRecord(stringData)) {
    const data = isRecord(object['data']) ? { ...object['data'] } : {};
    for (const [key, value] of Object.entries(stringData)) {
      if (typeof value === 'string') data[key] = Buffer.from(value, 'utf8').toString('base64');
    }
    object['data'] = data;
  }
  delete object['stringData'];
  if (object['type'] === undefined) object['type'] = 'Opaque';
}

// ---------------------------------------------------------------------------------------------
// The object store.

type Operation = 'Apply' | 'Update';

interface StoredObject {
  type: ResourceType;
  object: Json;
  /** Per leaf field: the managers that own it and how they set it. */
  owners: Map<string, Map<string, Operation>>;
  /** Per `manager\0operation`: when it last changed something. */
  managerTimes: Map<string, string>;
}

interface Identity {
  type: ResourceType;
  namespace: string;
  name: string;
}

class KubeStore {
  readonly #objects = new Map<string, StoredObject>();
  readonly #namespaces: Set<string>;
  #revision = 1;

  constructor(
    namespaces: readonly string[],
    private readonly now: () => number,
  ) {
    this.#namespaces = new Set(namespaces);
  }

  #key(id: Identity): string {
    return `${id.type.plural}/${id.namespace}/${id.name}`;
  }

  #timestamp(): string {
    return new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  hasNamespace(namespace: string): boolean {
    return this.#namespaces.has(namespace);
  }

  namespaceObject(namespace: string): Json {
    if (!this.#namespaces.has(namespace)) throw notFound('namespaces', namespace);
    return {
      kind: 'Namespace',
      apiVersion: 'v1',
      metadata: { name: namespace, labels: { 'kubernetes.io/metadata.name': namespace } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    };
  }

  get(id: Identity): Json {
    const stored = this.#objects.get(this.#key(id));
    if (stored === undefined) throw notFound(id.type.plural, id.name);
    return this.#render(stored);
  }

  find(id: Identity): Json | undefined {
    const stored = this.#objects.get(this.#key(id));
    return stored === undefined ? undefined : this.#render(stored);
  }

  list(type: ResourceType, namespace: string): Json {
    const items = [...this.#objects.values()]
      .filter((s) => s.type === type && isRecord(s.object['metadata']) && s.object['metadata']['namespace'] === namespace)
      .map((s) => this.#render(s));
    return { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata: { resourceVersion: String(this.#revision) }, items };
  }

  create(id: Identity, body: Json, manager: string): Json {
    if (!this.#namespaces.has(id.namespace)) throw notFound('namespaces', id.namespace);
    if (this.#objects.has(this.#key(id))) {
      throw new StatusError(409, 'AlreadyExists', `${id.type.plural} "${id.name}" already exists`, { name: id.name, kind: id.type.plural });
    }
    const object = this.#fresh(id, body);
    const stored: StoredObject = { type: id.type, object, owners: new Map(), managerTimes: new Map() };
    this.#own(stored, flatten(userContent(object)), manager, 'Update', true);
    return this.#commit(id, stored, undefined);
  }

  update(id: Identity, body: Json, manager: string): Json {
    const stored = this.#objects.get(this.#key(id));
    if (stored === undefined) throw notFound(id.type.plural, id.name);
    this.#checkPrecondition(id, stored, body);
    const next = this.#fresh(id, body, stored.object);
    return this.#replace(id, stored, next, manager);
  }

  patch(id: Identity, patch: Json, manager: string): Json {
    const stored = this.#objects.get(this.#key(id));
    if (stored === undefined) throw notFound(id.type.plural, id.name);
    this.#checkPrecondition(id, stored, patch);
    const merged = mergePatch(stored.object, patch);
    if (!isRecord(merged)) throw badRequest('the patch must be a JSON object');
    const next = this.#fresh(id, merged, stored.object);
    return this.#replace(id, stored, next, manager);
  }

  apply(id: Identity, body: Json, manager: string, force: boolean): { object: Json; created: boolean } {
    const stored = this.#objects.get(this.#key(id));
    const applied = clone(body);
    normalize(id.type, applied);
    if (stored === undefined) {
      if (!this.#namespaces.has(id.namespace)) throw notFound('namespaces', id.namespace);
      const metadata = isRecord(body['metadata']) ? body['metadata'] : {};
      if (metadata['resourceVersion'] !== undefined) throw conflict(id.type.plural, id.name, id.type.group);
      const object = this.#fresh(id, body);
      const created: StoredObject = { type: id.type, object, owners: new Map(), managerTimes: new Map() };
      this.#own(created, flatten(userContent(applied)), manager, 'Apply', true);
      return { object: this.#commit(id, created, undefined), created: true };
    }
    this.#checkPrecondition(id, stored, body);
    const fields = flatten(userContent(applied));
    const conflicts: Array<{ field: string; manager: string }> = [];
    for (const [key, value] of fields) {
      const current = getPath(stored.object, parsePathKey(key));
      if (canonical(current) === canonical(value)) continue;
      for (const owner of stored.owners.get(key)?.keys() ?? []) {
        if (owner !== manager) conflicts.push({ field: `.${parsePathKey(key).join('.')}`, manager: owner });
      }
    }
    if (conflicts.length > 0 && !force) {
      throw new StatusError(
        409,
        'Conflict',
        `Apply failed with ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'}: ${conflicts.map((c) => `conflict with "${c.manager}": ${c.field}`).join(', ')}`,
        {
          name: id.name,
          kind: id.type.plural,
          causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: c.field })),
        },
      );
    }
    const next = clone(stored.object);
    // Fields this manager applied before and no longer applies are removed, unless someone else owns them.
    for (const [key, owners] of stored.owners) {
      if (owners.get(manager) === 'Apply' && !fields.has(key)) {
        owners.delete(manager);
        if (owners.size === 0) {
          deletePath(next, parsePathKey(key));
          stored.owners.delete(key);
        }
      }
    }
    for (const [key, value] of fields) setPath(next, parsePathKey(key), value);
    const nextMetadata = isRecord(next['metadata']) ? next['metadata'] : {};
    next['metadata'] = nextMetadata;
    const candidate: StoredObject = { ...stored, object: next, owners: cloneOwners(stored.owners), managerTimes: new Map(stored.managerTimes) };
    this.#own(candidate, fields, manager, 'Apply', force);
    return { object: this.#commitIfChanged(id, stored, candidate), created: false };
  }

  delete(id: Identity): Json {
    const key = this.#key(id);
    const stored = this.#objects.get(key);
    if (stored === undefined) throw notFound(id.type.plural, id.name);
    this.#objects.delete(key);
    this.#revision += 1;
    const metadata = isRecord(stored.object['metadata']) ? stored.object['metadata'] : {};
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name: id.name, ...(id.type.group === '' ? {} : { group: id.type.group }), kind: id.type.plural, uid: metadata['uid'] },
    };
  }

  #checkPrecondition(id: Identity, stored: StoredObject, body: Json): void {
    const wanted = isRecord(body['metadata']) ? body['metadata']['resourceVersion'] : undefined;
    if (wanted === undefined || wanted === null) return;
    const metadata = isRecord(stored.object['metadata']) ? stored.object['metadata'] : {};
    if (wanted !== metadata['resourceVersion']) throw conflict(id.type.plural, id.name, id.type.group);
  }

  /** The object as stored from a client body: identity and server metadata set by the server. */
  #fresh(id: Identity, body: Json, previous?: Json): Json {
    const object = clone(body);
    delete object['status'];
    normalize(id.type, object);
    object['apiVersion'] = apiVersionOf(id.type);
    object['kind'] = id.type.kind;
    const given = isRecord(object['metadata']) ? object['metadata'] : {};
    const before = previous !== undefined && isRecord(previous['metadata']) ? previous['metadata'] : {};
    const metadata: Json = {
      name: id.name,
      namespace: id.namespace,
      uid: before['uid'] ?? randomUUID(),
      resourceVersion: before['resourceVersion'],
      creationTimestamp: before['creationTimestamp'] ?? this.#timestamp(),
    };
    if (id.type.hasGeneration) metadata['generation'] = before['generation'] ?? 1;
    if (given['labels'] !== undefined) metadata['labels'] = given['labels'];
    if (given['annotations'] !== undefined) metadata['annotations'] = given['annotations'];
    object['metadata'] = metadata;
    return object;
  }

  #replace(id: Identity, stored: StoredObject, next: Json, manager: string): Json {
    const before = flatten(userContent(stored.object));
    const after = flatten(userContent(next));
    const changed = new Map<string, unknown>();
    for (const [key, value] of after) if (canonical(before.get(key)) !== canonical(value) || !before.has(key)) changed.set(key, value);
    const candidate: StoredObject = { ...stored, object: next, owners: cloneOwners(stored.owners), managerTimes: new Map(stored.managerTimes) };
    for (const key of before.keys()) if (!after.has(key)) candidate.owners.delete(key);
    this.#own(candidate, changed, manager, 'Update', true);
    return this.#commitIfChanged(id, stored, candidate);
  }

  /** Gives `manager` the fields; `exclusive` takes them from everyone else. */
  #own(stored: StoredObject, fields: Map<string, unknown>, manager: string, operation: Operation, exclusive: boolean): void {
    if (fields.size === 0) return;
    for (const key of fields.keys()) {
      const owners = exclusive ? new Map<string, Operation>() : stored.owners.get(key) ?? new Map<string, Operation>();
      owners.set(manager, operation);
      stored.owners.set(key, owners);
    }
    stored.managerTimes.set(`${manager}\u0000${operation}`, this.#timestamp());
  }

  #commitIfChanged(id: Identity, stored: StoredObject, candidate: StoredObject): Json {
    validate(id.type, candidate.object, stored.object);
    const changed = canonical(userContent(candidate.object)) !== canonical(userContent(stored.object));
    if (!changed && canonical(ownersView(candidate.owners)) === canonical(ownersView(stored.owners))) return this.#render(stored);
    return this.#commit(id, candidate, stored.object);
  }

  #commit(id: Identity, stored: StoredObject, previous: Json | undefined): Json {
    validate(id.type, stored.object, previous);
    this.#revision += 1;
    const metadata = isRecord(stored.object['metadata']) ? stored.object['metadata'] : {};
    metadata['resourceVersion'] = String(this.#revision);
    if (id.type.hasGeneration && previous !== undefined && canonical(previous['spec']) !== canonical(stored.object['spec'])) {
      const generation = isRecord(previous['metadata']) ? previous['metadata']['generation'] : undefined;
      metadata['generation'] = (typeof generation === 'number' ? generation : 1) + 1;
    }
    // Managers that no longer own anything drop out of managedFields.
    for (const entry of stored.managerTimes.keys()) {
      const [manager, operation] = entry.split('\u0000');
      const owns = [...stored.owners.values()].some((owners) => owners.get(manager ?? '') === operation);
      if (!owns) stored.managerTimes.delete(entry);
    }
    this.#objects.set(this.#key(id), stored);
    return this.#render(stored);
  }

  #render(stored: StoredObject): Json {
    const object = clone(stored.object);
    const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
    const managedFields = [...stored.managerTimes.entries()].map(([entry, time]) => {
      const [manager = '', operation = 'Update'] = entry.split('\u0000');
      const tree: Json = {};
      for (const [key, owners] of stored.owners) {
        if (owners.get(manager) !== operation) continue;
        let node = tree;
        for (const segment of parsePathKey(key)) {
          const child = node[`f:${segment}`];
          const next: Json = isRecord(child) ? child : {};
          node[`f:${segment}`] = next;
          node = next;
        }
      }
      return { manager, operation, apiVersion: apiVersionOf(stored.type), time, fieldsType: 'FieldsV1', fieldsV1: tree };
    });
    if (managedFields.length > 0) metadata['managedFields'] = managedFields;
    object['metadata'] = metadata;
    return object;
  }
}

function cloneOwners(owners: Map<string, Map<string, Operation>>): Map<string, Map<string, Operation>> {
  return new Map([...owners].map(([key, value]) => [key, new Map(value)]));
}

function ownersView(owners: Map<string, Map<string, Operation>>): Json {
  return Object.fromEntries([...owners].map(([key, value]) => [key, Object.fromEntries(value)]));
}

// ---------------------------------------------------------------------------------------------
// HTTP.

interface Route {
  type: ResourceType | undefined;
  namespace: string;
  name: string | undefined;
  /** `/api/v1/namespaces/<ns>` itself. */
  namespaceOnly: boolean;
}

function route(pathname: string): Route | undefined {
  const core = /^\/api\/v1\/namespaces\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(pathname);
  const apps = /^\/apis\/(apps)\/v1\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(pathname);
  const [namespace, plural, name, group] =
    core !== null ? [core[1], core[2], core[3], ''] : apps !== null ? [apps[2], apps[3], apps[4], 'apps'] : [];
  if (namespace === undefined) return undefined;
  const decode = (value: string | undefined): string | undefined => (value === undefined ? undefined : decodeURIComponent(value));
  if (plural === undefined) return { type: undefined, namespace: decodeURIComponent(namespace), name: undefined, namespaceOnly: true };
  const type = RESOURCES.find((r) => r.plural === plural && r.group === group);
  if (type === undefined) return undefined;
  return { type, namespace: decodeURIComponent(namespace), name: decode(name), namespaceOnly: false };
}


function parseJsonBody(body: Buffer): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('the body of the request could not be decoded: this local API server accepts JSON (JSON is YAML) only');
  }
  if (!isRecord(parsed)) throw badRequest('the body of the request must be an object');
  return parsed;
}

function send(res: ServerResponse, status: number, body: Json): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    'Audit-Id': randomUUID(),
    'Cache-Control': 'no-cache, private',
  });
  res.end(payload);
}

function checkBodyIdentity(body: Json, type: ResourceType, namespace: string, name: string | undefined): string {
  if (body['apiVersion'] !== apiVersionOf(type) || body['kind'] !== type.kind) {
    throw badRequest(
      `the API version in the data (${String(body['apiVersion'])}) and kind (${String(body['kind'])}) do not match the request (${apiVersionOf(type)}, ${type.kind})`,
    );
  }
  const metadata = isRecord(body['metadata']) ? body['metadata'] : {};
  const bodyName = metadata['name'];
  if (name !== undefined && bodyName !== undefined && bodyName !== name) {
    throw badRequest(`the name of the object (${JSON.stringify(bodyName)}) does not match the name on the URL (${name})`);
  }
  const bodyNamespace = metadata['namespace'];
  if (bodyNamespace !== undefined && bodyNamespace !== namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  const resolved = name ?? (typeof bodyName === 'string' ? bodyName : undefined);
  if (resolved === undefined) throw invalid(type, '', [{ reason: 'FieldValueRequired', message: 'Required value: name is required', field: 'metadata.name' }]);
  if (!DNS_SUBDOMAIN.test(resolved)) {
    throw invalid(type, resolved, [{ reason: 'FieldValueInvalid', message: `Invalid value: "${resolved}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`, field: 'metadata.name' }]);
  }
  return resolved;
}

const PATCH_TYPES = ['application/apply-patch+yaml', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];

export async function startLocalKubernetes(options: LocalKubernetesOptions): Promise<LocalKubernetes> {
  const now = options.now ?? Date.now;
  const caName = options.name ?? 'local-kube';
  const ca = await generateCa({ authority: caName, generation: 1, now: now() - 60_000, lifetimeMs: 3650 * 86_400_000 });
  const serving = await Issuer.fromCaGeneration(ca).issueLeaf(
    { subject: `CN=kube-apiserver ${caName}`, dnsNames: ['localhost', 'kubernetes.default.svc'], ipAddresses: ['127.0.0.1'], usage: 'server', lifetimeMs: 3650 * 86_400_000 },
    now(),
  );
  const store = new KubeStore(options.namespaces, now);
  let downMode: DownMode | undefined;
  let log: KubeRequestRecord[] = [];
  const hanging = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  async function handle(req: IncomingMessage, res: ServerResponse, record: KubeRequestRecord): Promise<{ status: number; body: Json }> {
    const body = await readBody(req, { maxBytes: MAX_BODY_BYTES, tooLarge: () => new StatusError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728') });
    const authorization = req.headers['authorization'] ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    const user = match?.[1] === undefined ? undefined : await options.verifyToken(match[1]);
    if (user === undefined) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    record.user = user.username;

    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const target = route(url.pathname);
    if (target === undefined) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    const method = req.method ?? 'GET';
    const verb: KubeVerb | undefined =
      method === 'GET' ? (target.name === undefined && !target.namespaceOnly ? 'list' : 'get')
      : method === 'POST' ? 'create'
      : method === 'PUT' ? 'update'
      : method === 'PATCH' ? 'patch'
      : method === 'DELETE' ? 'delete'
      : undefined;
    if (verb === undefined) throw new StatusError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    const attributes: KubeRequestAttributes = { verb, resource: target.type?.plural ?? 'namespaces', namespace: target.namespace, name: target.name };
    if (options.authorize !== undefined && !options.authorize(user, attributes)) {
      const group = target.type?.group ?? '';
      throw new StatusError(
        403,
        'Forbidden',
        `${attributes.resource}${target.name === undefined ? '' : ` "${target.name}"`} is forbidden: User "${user.username}" cannot ${verb} resource "${attributes.resource}" in API group "${group}" in the namespace "${target.namespace}"`,
        { ...(target.name === undefined ? {} : { name: target.name }), kind: attributes.resource },
      );
    }
    const fault = options.faults?.({ ...attributes, method });
    if (fault !== undefined) throw new StatusError(fault.code, fault.reason, fault.message);

    if (target.namespaceOnly) {
      if (verb !== 'get') throw new StatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
      return { status: 200, body: store.namespaceObject(target.namespace) };
    }
    const type = target.type;
    if (type === undefined) throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    const fieldManager = url.searchParams.get('fieldManager') ?? undefined;
    if (fieldManager !== undefined && (fieldManager.length > 128 || !/^[\x20-\x7e]+$/.test(fieldManager))) {
      throw new StatusError(422, 'Invalid', 'fieldManager: Invalid value: must be 1-128 printable characters');
    }
    const manager = fieldManager ?? 'unknown';
    const name = target.name;

    switch (verb) {
      case 'list':
        return { status: 200, body: store.list(type, target.namespace) };
      case 'get':
        if (name === undefined) break;
        return { status: 200, body: store.get({ type, namespace: target.namespace, name }) };
      case 'delete':
        if (name === undefined) break;
        return { status: 200, body: store.delete({ type, namespace: target.namespace, name }) };
      case 'create': {
        if (name !== undefined) throw new StatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
        const object = parseJsonBody(body);
        const resolved = checkBodyIdentity(object, type, target.namespace, undefined);
        return { status: 201, body: store.create({ type, namespace: target.namespace, name: resolved }, object, manager) };
      }
      case 'update': {
        if (name === undefined) break;
        const object = parseJsonBody(body);
        checkBodyIdentity(object, type, target.namespace, name);
        return { status: 200, body: store.update({ type, namespace: target.namespace, name }, object, manager) };
      }
      case 'patch': {
        if (name === undefined) break;
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
        if (!PATCH_TYPES.includes(contentType)) {
          throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
        }
        const patch = parseJsonBody(body);
        const id = { type, namespace: target.namespace, name };
        if (contentType === 'application/apply-patch+yaml') {
          if (fieldManager === undefined) {
            throw new StatusError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch', {
              kind: 'PatchOptions', group: 'meta.k8s.io', causes: [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }],
            });
          }
          checkBodyIdentity(patch, type, target.namespace, name);
          const force = url.searchParams.get('force') === 'true';
          const applied = store.apply(id, patch, fieldManager, force);
          return { status: applied.created ? 201 : 200, body: applied.object };
        }
        if (url.searchParams.has('force')) throw badRequest('force: Forbidden: may not be specified for non-apply patch');
        return { status: 200, body: store.patch(id, patch, manager) };
      }
    }
    throw new StatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
  }

  const server = createServer({ key: serving.privateKeyPem, cert: serving.certificatePem }, (req, res) => {
    const record: KubeRequestRecord = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0] ?? '/', status: 0 };
    log.push(record);
    if (downMode === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (downMode === 'unavailable') {
      record.status = 503;
      send(res, 503, new StatusError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request').body());
      return;
    }
    handle(req, res, record).then(
      ({ status, body }) => {
        record.status = status;
        send(res, status, body);
      },
      (error: unknown) => {
        const status = error instanceof StatusError ? error : new StatusError(500, 'InternalError', 'an error on the server has prevented the request from succeeding');
        record.status = status.code;
        send(res, status.code, status.body());
      },
    );
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('secureConnection', (socket) => {
    // A client that fails the handshake (e.g. trusts another CA) closes it; nothing to do here.
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);

  const listen = async (port: number): Promise<void> => {
    await listenOnLoopback(server, port);
  };
  const port = await listenOnLoopback(server, options.port ?? 0);
  let listening = true;

  const dropConnections = (): void => {
    for (const res of hanging) res.destroy();
    hanging.clear();
    for (const socket of sockets) socket.destroy();
  };
  const stopListening = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (!listening) {
        resolve();
        return;
      }
      listening = false;
      server.close(() => resolve());
      dropConnections();
    });

  const resumeListening = async (): Promise<void> => {
    if (listening) return;
    await listen(port);
    listening = true;
  };

  return {
    endpoint: `https://127.0.0.1:${port}`,
    caPem: ca.certificatePem,
    caData: Buffer.from(ca.certificatePem, 'utf8').toString('base64'),
    async goDown(mode: DownMode = 'refuse') {
      downMode = mode;
      if (mode === 'refuse') {
        await stopListening();
        return;
      }
      dropConnections();
      await resumeListening();
    },
    async comeBack() {
      downMode = undefined;
      for (const res of hanging) res.destroy();
      hanging.clear();
      await resumeListening();
    },
    down: () => downMode,
    requestCount: () => log.length,
    requests: () => log.map((r) => ({ ...r })),
    resetRequests: () => {
      log = [];
    },
    object: (resource, namespace, name) => {
      const type = RESOURCES.find((r) => r.plural === resource);
      return type === undefined ? undefined : store.find({ type, namespace, name });
    },
    stop: () => {
      downMode = undefined;
      return stopListening();
    },
  };
}

