/**
 * HTTP routing for the local Kubernetes server: which object a path names, which verb a method is,
 * bearer-token authentication and the RBAC stand-in, and one small function per verb.
 */
import type { IncomingMessage } from 'node:http';
import { readBody } from '../kit/http.js';
import { isRecord, type Json } from '../kit/json-protocol.js';
import type { KubeRequestAttributes, KubeRequestRecord, KubeUser, KubeVerb, LocalKubernetesOptions } from '../kubernetes-server.js';
import { DNS_SUBDOMAIN, MAX_BODY_BYTES, RESOURCES, apiVersionOf, type ResourceType } from './resources.js';
import { StatusError, badRequest, invalid } from './status.js';
import type { KubeStore } from './store.js';

interface Route {
  type: ResourceType | undefined;
  namespace: string;
  name: string | undefined;
  /** `/api/v1/namespaces/<ns>` itself. */
  namespaceOnly: boolean;
}

/** A request that passed authentication, authorization and the fault hook. */
interface Authorized {
  req: IncomingMessage;
  url: URL;
  body: Buffer;
  type: ResourceType;
  namespace: string;
  name: string | undefined;
  /** `fieldManager` as given; `manager` is it or `unknown`. */
  fieldManager: string | undefined;
  manager: string;
}

export interface Answer {
  status: number;
  body: Json;
}

const PATCH_TYPES = ['application/apply-patch+yaml', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];
const notAllowed = (): StatusError => new StatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
const noSuchResource = (): StatusError => new StatusError(404, 'NotFound', 'the server could not find the requested resource');

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

function verbOf(method: string, target: Route): KubeVerb {
  const verb: KubeVerb | undefined =
    method === 'GET' ? (target.name === undefined && !target.namespaceOnly ? 'list' : 'get')
    : method === 'POST' ? 'create'
    : method === 'PUT' ? 'update'
    : method === 'PATCH' ? 'patch'
    : method === 'DELETE' ? 'delete'
    : undefined;
  if (verb === undefined) throw notAllowed();
  return verb;
}

async function authenticate(req: IncomingMessage, options: LocalKubernetesOptions): Promise<KubeUser> {
  const authorization = req.headers['authorization'] ?? '';
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  const user = match?.[1] === undefined ? undefined : await options.verifyToken(match[1]);
  if (user === undefined) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
  return user;
}

function authorize(options: LocalKubernetesOptions, user: KubeUser, attributes: KubeRequestAttributes, target: Route): void {
  if (options.authorize === undefined || options.authorize(user, attributes)) return;
  const group = target.type?.group ?? '';
  throw new StatusError(
    403,
    'Forbidden',
    `${attributes.resource}${target.name === undefined ? '' : ` "${target.name}"`} is forbidden: User "${user.username}" cannot ${attributes.verb} resource "${attributes.resource}" in API group "${group}" in the namespace "${target.namespace}"`,
    { ...(target.name === undefined ? {} : { name: target.name }), kind: attributes.resource },
  );
}

function fieldManagerOf(url: URL): string | undefined {
  const fieldManager = url.searchParams.get('fieldManager') ?? undefined;
  if (fieldManager !== undefined && (fieldManager.length > 128 || !/^[\x20-\x7e]+$/.test(fieldManager))) {
    throw new StatusError(422, 'Invalid', 'fieldManager: Invalid value: must be 1-128 printable characters');
  }
  return fieldManager;
}

/** Server-side apply or a merge patch, by the request's content type. */
function patch(store: KubeStore, request: Authorized, name: string): Answer {
  const { req, url, type, namespace, fieldManager } = request;
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  if (!PATCH_TYPES.includes(contentType)) {
    throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(', ')}`);
  }
  const body = parseJsonBody(request.body);
  const id = { type, namespace, name };
  if (contentType !== 'application/apply-patch+yaml') {
    if (url.searchParams.has('force')) throw badRequest('force: Forbidden: may not be specified for non-apply patch');
    return { status: 200, body: store.patch(id, body, request.manager) };
  }
  if (fieldManager === undefined) {
    throw new StatusError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch', {
      kind: 'PatchOptions', group: 'meta.k8s.io', causes: [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }],
    });
  }
  checkBodyIdentity(body, type, namespace, name);
  const applied = store.apply(id, body, fieldManager, url.searchParams.get('force') === 'true');
  return { status: applied.created ? 201 : 200, body: applied.object };
}

function create(store: KubeStore, request: Authorized): Answer {
  if (request.name !== undefined) throw notAllowed();
  const object = parseJsonBody(request.body);
  const name = checkBodyIdentity(object, request.type, request.namespace, undefined);
  return { status: 201, body: store.create({ type: request.type, namespace: request.namespace, name }, object, request.manager) };
}

function update(store: KubeStore, request: Authorized, name: string): Answer {
  const object = parseJsonBody(request.body);
  checkBodyIdentity(object, request.type, request.namespace, name);
  return { status: 200, body: store.update({ type: request.type, namespace: request.namespace, name }, object, request.manager) };
}

function perform(store: KubeStore, verb: KubeVerb, request: Authorized): Answer {
  const { type, namespace, name } = request;
  if (verb === 'list') return { status: 200, body: store.list(type, namespace) };
  if (verb === 'create') return create(store, request);
  if (name === undefined) throw notAllowed();
  switch (verb) {
    case 'get':
      return { status: 200, body: store.get({ type, namespace, name }) };
    case 'delete':
      return { status: 200, body: store.delete({ type, namespace, name }) };
    case 'update':
      return update(store, request, name);
    case 'patch':
      return patch(store, request, name);
  }
}

/** Answers one request: authenticate, route, authorize, the fault hook, then the verb. */
export async function handleKubeRequest(
  req: IncomingMessage,
  store: KubeStore,
  options: LocalKubernetesOptions,
  record: KubeRequestRecord,
): Promise<Answer> {
  const tooLarge = (): StatusError => new StatusError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
  const body = await readBody(req, { maxBytes: MAX_BODY_BYTES, tooLarge });
  const user = await authenticate(req, options);
  record.user = user.username;
  const url = new URL(req.url ?? '/', 'https://127.0.0.1');
  const target = route(url.pathname);
  if (target === undefined) throw noSuchResource();
  const method = req.method ?? 'GET';
  const verb = verbOf(method, target);
  const attributes: KubeRequestAttributes = { verb, resource: target.type?.plural ?? 'namespaces', namespace: target.namespace, name: target.name };
  authorize(options, user, attributes, target);
  const fault = options.faults?.({ ...attributes, method });
  if (fault !== undefined) throw new StatusError(fault.code, fault.reason, fault.message);
  if (target.namespaceOnly) {
    if (verb !== 'get') throw notAllowed();
    return { status: 200, body: store.namespaceObject(target.namespace) };
  }
  if (target.type === undefined) throw noSuchResource();
  const fieldManager = fieldManagerOf(url);
  const request = { req, url, body, type: target.type, namespace: target.namespace, name: target.name, fieldManager, manager: fieldManager ?? 'unknown' };
  return perform(store, verb, request);
}
