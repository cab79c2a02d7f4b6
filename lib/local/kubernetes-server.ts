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
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Issuer, generateCa } from '../pki/index.js';
import { listenOnLoopback } from './kit/http.js';
import type { Json } from './kit/json-protocol.js';
import { RESOURCES } from './kubernetes/resources.js';
import { handleKubeRequest } from './kubernetes/routing.js';
import { StatusError } from './kubernetes/status.js';
import { KubeStore } from './kubernetes/store.js';

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

/**
 * `refuse`: nothing listens (ECONNREFUSED); `reset`: the port is kept and every connection is reset
 * at once (ECONNRESET), so no other listener can take the port while the server is down (a client
 * still retrying would reach it) nor hold it when the server comes back; `unavailable`: every
 * request gets 503; `hang`: requests are never answered.
 */
export type DownMode = 'refuse' | 'reset' | 'unavailable' | 'hang';

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

/** What the server's requests see: the store, the outage in force, the log, the requests held open. */
interface ServerState {
  store: KubeStore;
  downMode: DownMode | undefined;
  log: KubeRequestRecord[];
  hanging: Set<ServerResponse>;
  sockets: Set<Socket>;
}

/** The HTTPS server: answers as the outage in force says, or runs the request. */
function kubeServer(tls: { key: string; cert: string }, state: ServerState, options: LocalKubernetesOptions): Server {
  const server = createServer(tls, (req, res) => {
    const record: KubeRequestRecord = { method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0] ?? '/', status: 0 };
    state.log.push(record);
    if (state.downMode === 'hang') {
      state.hanging.add(res);
      res.on('close', () => state.hanging.delete(res));
      return;
    }
    if (state.downMode === 'unavailable') {
      record.status = 503;
      send(res, 503, new StatusError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request').body());
      return;
    }
    handleKubeRequest(req, state.store, options, record).then(
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
    if (state.downMode === 'reset') {
      socket.resetAndDestroy();
      return;
    }
    state.sockets.add(socket);
    socket.on('close', () => state.sockets.delete(socket));
  });
  server.on('secureConnection', (socket) => {
    // A client that fails the handshake (e.g. trusts another CA) closes it; nothing to do here.
    socket.on('error', () => undefined);
  });
  server.on('tlsClientError', () => undefined);
  return server;
}

/** Stopping and resuming listening on the same port, dropping held connections. */
function listening(server: Server, state: ServerState, port: number): { stop: () => Promise<void>; resume: () => Promise<void>; drop: () => void } {
  let listens = true;
  const drop = (): void => {
    for (const res of state.hanging) res.destroy();
    state.hanging.clear();
    for (const socket of state.sockets) socket.destroy();
  };
  const stop = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (!listens) {
        resolve();
        return;
      }
      listens = false;
      server.close(() => resolve());
      drop();
    });
  const resume = async (): Promise<void> => {
    if (listens) return;
    await listenOnLoopback(server, port);
    listens = true;
  };
  return { stop, resume, drop };
}

export async function startLocalKubernetes(options: LocalKubernetesOptions): Promise<LocalKubernetes> {
  const now = options.now ?? Date.now;
  const caName = options.name ?? 'local-kube';
  const ca = await generateCa({ authority: caName, generation: 1, now: now() - 60_000, lifetimeMs: 3650 * 86_400_000 });
  const serving = await Issuer.fromCaGeneration(ca).issueLeaf(
    { subject: `CN=kube-apiserver ${caName}`, dnsNames: ['localhost', 'kubernetes.default.svc'], ipAddresses: ['127.0.0.1'], usage: 'server', lifetimeMs: 3650 * 86_400_000 },
    now(),
  );
  const state: ServerState = { store: new KubeStore(options.namespaces, now), downMode: undefined, log: [], hanging: new Set(), sockets: new Set() };
  const server = kubeServer({ key: serving.privateKeyPem, cert: serving.certificatePem }, state, options);
  const port = await listenOnLoopback(server, options.port ?? 0);
  const lifecycle = listening(server, state, port);
  return {
    endpoint: `https://127.0.0.1:${port}`,
    caPem: ca.certificatePem,
    caData: Buffer.from(ca.certificatePem, 'utf8').toString('base64'),
    async goDown(mode: DownMode = 'refuse') {
      state.downMode = mode;
      if (mode === 'refuse') {
        await lifecycle.stop();
        return;
      }
      lifecycle.drop();
      await lifecycle.resume();
    },
    async comeBack() {
      state.downMode = undefined;
      for (const res of state.hanging) res.destroy();
      state.hanging.clear();
      await lifecycle.resume();
    },
    down: () => state.downMode,
    requestCount: () => state.log.length,
    requests: () => state.log.map((r) => ({ ...r })),
    resetRequests: () => {
      state.log = [];
    },
    object: (resource, namespace, name) => {
      const type = RESOURCES.find((r) => r.plural === resource);
      return type === undefined ? undefined : state.store.find({ type, namespace, name });
    },
    stop: () => {
      state.downMode = undefined;
      return lifecycle.stop();
    },
  };
}
