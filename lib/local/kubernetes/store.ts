/**
 * The object store: objects per kind and namespace, resourceVersion preconditions, and server-side
 * apply's field ownership per manager (metadata.managedFields, FieldsV1).
 */
import { randomUUID } from 'node:crypto';
import { isRecord, type Json } from '../kit/json-protocol.js';
import { canonical, clone, deletePath, flatten, getPath, mergePatch, parsePathKey, setPath, userContent } from './json-paths.js';
import { apiVersionOf, normalize, validate, type ResourceType } from './resources.js';
import { StatusError, badRequest, conflict, notFound } from './status.js';

type Operation = 'Apply' | 'Update';

interface StoredObject {
  type: ResourceType;
  object: Json;
  /** Per leaf field: the managers that own it and how they set it. */
  owners: Map<string, Map<string, Operation>>;
  /** Per `manager\0operation`: when it last changed something. */
  managerTimes: Map<string, string>;
}

export interface Identity {
  type: ResourceType;
  namespace: string;
  name: string;
}

export class KubeStore {
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
