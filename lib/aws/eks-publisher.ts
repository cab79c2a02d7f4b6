/**
 * Publishes trust bundles and leaves to EKS clusters as Kubernetes objects, and reads them back.
 *
 * DescribeCluster (cached) gives each cluster's endpoint and CA; requests go over HTTPS trusting
 * only that CA, with a bearer token from EksTokenSource. Writes are server-side apply with field
 * manager `certrotate` (`force=true`: certrotate owns these fields), labelled and annotated with the
 * authority, the generation(s) and a content hash. A consumer counts as holding a bundle only when a
 * read returns exactly that content (`holdsBundle`).
 *
 * A cluster that is down or refuses (401, 403, 429, 5xx, timeouts, refused connections, a TLS
 * failure) is retried with backoff and then reported as ConsumerUnavailableError, naming the
 * cluster; a request the cluster rejects for good (404 namespace, 422 invalid) is a
 * ConsumerRejectedError. A 409 on apply is retried once, then a ConflictError.
 */
import { createHash } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import type { EKSClient } from '@aws-sdk/client-eks';
import { loadEks } from './clients.js';
import { ConflictError } from '../errors.js';
import { ConsumerRejectedError, ConsumerUnavailableError } from '../ports.js';
import type { Clock, ConsumerPublisher, LeafContent, PublishResult, ReadBack } from '../ports.js';
import { describeTarget } from '../config/eks-targets.js';
import type { EksBundleTarget, EksLeafTarget, EksTarget, WorkloadRef } from '../config/eks-targets.js';
import type { TokenTarget } from './eks-token.js';
import { StsError } from './sts-assume-role.js';

export const FIELD_MANAGER = 'certrotate';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_AUTHORITY = 'certrotate.io/authority';
export const LABEL_CONTENT = 'certrotate.io/content';
export const ANNOTATION_AUTHORITY = 'certrotate.io/authority';
export const ANNOTATION_GENERATIONS = 'certrotate.io/generations';
export const ANNOTATION_GENERATION = 'certrotate.io/generation';
export const ANNOTATION_LEAF = 'certrotate.io/leaf';
export const ANNOTATION_CONTENT_HASH = 'certrotate.io/content-sha256';
export const ANNOTATION_RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
/** On a restarted workload's pod template: the leaf content the restart was for. */
export const ANNOTATION_RESTARTED_FOR = 'certrotate.io/restarted-for-sha256';

export { ConsumerRejectedError, ConsumerUnavailableError } from '../ports.js';
export type { ConsumerPublisher, LeafContent, PublishResult, ReadBack } from '../ports.js';

export interface EksPublisherOptions {
  /** An EKSClient per region (created once, in the composition module). */
  eksClientFor: (region: string) => EKSClient | Promise<EKSClient>;
  tokens: { token(target: TokenTarget): Promise<string>; invalidate(target: TokenTarget): void };
  clock: Clock;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): jitter for the backoff. */
  random?: () => number;
  /** Attempts per request before a cluster counts as unavailable; 4 unless told. */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  requestTimeoutMs?: number;
  /** How long DescribeCluster's answer is reused; 15 minutes unless told. */
  clusterInfoTtlMs?: number;
}

/** sha256 hex over the data's keys and values, independent of key order. */
export function contentHash(data: Readonly<Record<string, string>>): string {
  const entries = Object.keys(data).sort().map((key) => [key, data[key] ?? '']);
  return createHash('sha256').update(JSON.stringify(entries), 'utf8').digest('hex');
}

/** True only when a read returned exactly this bundle as `ca.crt`. */
export function holdsBundle(readBack: ReadBack | undefined, expectedPem: string): boolean {
  return readBack !== undefined && readBack.data['ca.crt'] === expectedPem;
}

/** True only when a read returned exactly this leaf (all three keys). */
export function holdsLeaf(readBack: ReadBack | undefined, expected: LeafContent): boolean {
  return (
    readBack !== undefined &&
    readBack.data['tls.crt'] === expected['tls.crt'] &&
    readBack.data['tls.key'] === expected['tls.key'] &&
    readBack.data['ca.crt'] === expected['ca.crt']
  );
}

/** One consumer's answer to "do you hold this bundle?" */
export type BundleCheck =
  | { target: EksBundleTarget; holds: true }
  | { target: EksBundleTarget; holds: false; heldGenerations: number[] | undefined }
  | { target: EksBundleTarget; holds: false; unavailable: ConsumerUnavailableError | ConsumerRejectedError };

/** `prod-eu kube-system/cluster-ca lacks [2]`, or why it could not be read. */
export function describeLaggard(check: BundleCheck, expectedGenerations: readonly number[]): string | undefined {
  if (check.holds) return undefined;
  const name = describeTarget(check.target);
  if ('unavailable' in check) {
    const status = check.unavailable.status;
    return `${name} unreachable${status === undefined ? '' : ` (HTTP ${status})`}`;
  }
  const held = new Set(check.heldGenerations ?? []);
  const lacks = expectedGenerations.filter((g) => !held.has(g));
  return `${name} lacks [${(lacks.length > 0 ? lacks : expectedGenerations).join(' ')}]`;
}

/** A failure worth retrying: the cluster may answer differently in a moment. */
class TransientFailure extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    readonly tls = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface KubeResponse {
  status: number;
  body: unknown;
}

interface ClusterAccess {
  endpoint: string;
  agent: Agent;
  fetchedAt: number;
}

const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|EPROTO/;
const RETRYABLE_STATUS = new Set([401, 403, 408, 429, 500, 502, 503, 504]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringMap(value: unknown): Record<string, string> {
  const map: Record<string, string> = {};
  if (!isRecord(value)) return map;
  for (const [key, field] of Object.entries(value)) if (typeof field === 'string') map[key] = field;
  return map;
}

function statusMessage(body: unknown): string {
  if (isRecord(body) && typeof body['message'] === 'string') return body['message'];
  return typeof body === 'string' ? body.slice(0, 200) : '';
}

function statusReason(body: unknown): string {
  return isRecord(body) && typeof body['reason'] === 'string' ? body['reason'] : '';
}

const WORKLOAD_PLURAL: Record<WorkloadRef['kind'], string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};

const seg = encodeURIComponent;

function objectPath(target: EksTarget): string {
  const plural = target.kind === 'ConfigMap' ? 'configmaps' : 'secrets';
  return `/api/v1/namespaces/${seg(target.namespace)}/${plural}/${seg(target.secretName)}`;
}

function workloadPath(namespace: string, workload: WorkloadRef): string {
  return `/apis/apps/v1/namespaces/${seg(namespace)}/${WORKLOAD_PLURAL[workload.kind]}/${seg(workload.name)}`;
}

export class EksPublisher implements ConsumerPublisher {
  readonly #options: EksPublisherOptions;
  readonly #access = new Map<string, ClusterAccess>();
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #attempts: number;

  constructor(options: EksPublisherOptions) {
    this.#options = options;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
    this.#attempts = Math.max(1, options.attempts ?? 4);
  }

  async publishBundle(target: EksBundleTarget, pem: string, generations: readonly number[]): Promise<PublishResult> {
    const data = { 'ca.crt': pem };
    const hash = contentHash(data);
    const annotations = {
      [ANNOTATION_AUTHORITY]: target.authority,
      [ANNOTATION_GENERATIONS]: generations.join(','),
      [ANNOTATION_CONTENT_HASH]: hash,
    };
    const outcome = await this.#ensure(target, data, 'bundle', annotations);
    return { ...outcome, restarted: [], missingWorkloads: [] };
  }

  async publishLeaf(target: EksLeafTarget, content: LeafContent, generation: number): Promise<PublishResult> {
    const data = { 'tls.crt': content['tls.crt'], 'tls.key': content['tls.key'], 'ca.crt': content['ca.crt'] };
    const hash = contentHash(data);
    const annotations = {
      [ANNOTATION_AUTHORITY]: target.authority,
      [ANNOTATION_LEAF]: target.content.leaf,
      [ANNOTATION_GENERATION]: String(generation),
      [ANNOTATION_CONTENT_HASH]: hash,
    };
    const outcome = await this.#ensure(target, data, 'leaf', annotations);
    const restarted: WorkloadRef[] = [];
    const missingWorkloads: WorkloadRef[] = [];
    for (const workload of target.restart) {
      const result = await this.#restartIfNeeded(target, workload, hash, outcome.changed);
      if (result === 'restarted') restarted.push(workload);
      if (result === 'missing') missingWorkloads.push(workload);
    }
    return { ...outcome, restarted, missingWorkloads };
  }

  async readBack(target: EksTarget): Promise<ReadBack | undefined> {
    const response = await this.#request(target, 'GET', objectPath(target));
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw this.#rejected(target, response, `reading ${describeTarget(target)}`);
    const body = isRecord(response.body) ? response.body : {};
    const metadata = isRecord(body['metadata']) ? body['metadata'] : {};
    const raw = stringMap(body['data']);
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries(raw)) {
      data[key] = target.kind === 'Secret' ? Buffer.from(value, 'base64').toString('utf8') : value;
    }
    return {
      data,
      resourceVersion: typeof metadata['resourceVersion'] === 'string' ? metadata['resourceVersion'] : '',
      labels: stringMap(metadata['labels']),
      annotations: stringMap(metadata['annotations']),
    };
  }

  /** Reads every target and says which hold exactly `expectedPem`; a down cluster is one answer, not a failure. */
  async checkBundle(targets: readonly EksBundleTarget[], expectedPem: string): Promise<BundleCheck[]> {
    return Promise.all(
      targets.map(async (target): Promise<BundleCheck> => {
        try {
          const read = await this.readBack(target);
          if (holdsBundle(read, expectedPem)) return { target, holds: true };
          const generations = read?.annotations[ANNOTATION_GENERATIONS];
          const heldGenerations = generations === undefined ? undefined : generations.split(',').map(Number).filter(Number.isInteger);
          return { target, holds: false, heldGenerations };
        } catch (error) {
          if (error instanceof ConsumerUnavailableError || error instanceof ConsumerRejectedError) {
            return { target, holds: false, unavailable: error };
          }
          throw error;
        }
      }),
    );
  }

  /** Releases pooled connections. */
  destroy(): void {
    for (const access of this.#access.values()) access.agent.destroy();
    this.#access.clear();
  }

  /** Writes the object unless a read shows it already holds exactly this data and metadata. */
  async #ensure(
    target: EksTarget,
    data: Record<string, string>,
    content: 'bundle' | 'leaf',
    annotations: Record<string, string>,
  ): Promise<{ changed: boolean; resourceVersion: string }> {
    const labels = { [LABEL_MANAGED_BY]: FIELD_MANAGER, [LABEL_AUTHORITY]: target.authority, [LABEL_CONTENT]: content };
    const current = await this.readBack(target);
    if (
      current !== undefined &&
      contentHash(current.data) === contentHash(data) &&
      Object.entries(labels).every(([k, v]) => current.labels[k] === v) &&
      Object.entries(annotations).every(([k, v]) => current.annotations[k] === v)
    ) {
      return { changed: false, resourceVersion: current.resourceVersion };
    }
    const metadata = { name: target.secretName, namespace: target.namespace, labels, annotations };
    const body =
      target.kind === 'ConfigMap'
        ? { apiVersion: 'v1', kind: 'ConfigMap', metadata, data }
        : {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata,
            type: content === 'leaf' ? 'kubernetes.io/tls' : 'Opaque',
            data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
          };
    const path = `${objectPath(target)}?fieldManager=${FIELD_MANAGER}&force=true`;
    const payload = JSON.stringify(body);
    for (let conflicts = 0; ; conflicts += 1) {
      const response = await this.#request(target, 'PATCH', path, { contentType: 'application/apply-patch+yaml', payload });
      if (response.status === 200 || response.status === 201) {
        const metadataOut = isRecord(response.body) && isRecord(response.body['metadata']) ? response.body['metadata'] : {};
        const resourceVersion = typeof metadataOut['resourceVersion'] === 'string' ? metadataOut['resourceVersion'] : '';
        return { changed: true, resourceVersion };
      }
      if (response.status === 409 && conflicts === 0) continue;
      if (response.status === 409) {
        throw new ConflictError(`applying ${describeTarget(target)} conflicted twice: ${statusMessage(response.body)}`);
      }
      throw this.#rejected(target, response, `applying ${describeTarget(target)}`);
    }
  }

  async #restartIfNeeded(target: EksLeafTarget, workload: WorkloadRef, hash: string, leafChanged: boolean): Promise<'restarted' | 'missing' | 'current'> {
    const path = workloadPath(target.namespace, workload);
    if (!leafChanged) {
      // The leaf did not change now; restart only if a restart for an earlier content was never
      // followed by one for this content (a crash between the write and the restart).
      const response = await this.#request(target, 'GET', path);
      if (response.status === 404) return 'missing';
      if (response.status !== 200) throw this.#rejected(target, response, `reading ${workload.kind} ${target.namespace}/${workload.name}`);
      const template = isRecord(response.body) && isRecord(response.body['spec']) ? response.body['spec']['template'] : undefined;
      const templateMeta = isRecord(template) ? template['metadata'] : undefined;
      const restartedFor = stringMap(isRecord(templateMeta) ? templateMeta['annotations'] : undefined)[ANNOTATION_RESTARTED_FOR];
      if (restartedFor === undefined || restartedFor === hash) return 'current';
    }
    const restartedAt = new Date(this.#options.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const patch = { spec: { template: { metadata: { annotations: { [ANNOTATION_RESTARTED_AT]: restartedAt, [ANNOTATION_RESTARTED_FOR]: hash } } } } };
    const response = await this.#request(target, 'PATCH', `${path}?fieldManager=${FIELD_MANAGER}`, {
      contentType: 'application/strategic-merge-patch+json',
      payload: JSON.stringify(patch),
    });
    if (response.status === 404) return 'missing';
    if (response.status !== 200) throw this.#rejected(target, response, `restarting ${workload.kind} ${target.namespace}/${workload.name}`);
    return 'restarted';
  }

  #rejected(target: EksTarget, response: KubeResponse, what: string): ConsumerRejectedError {
    return new ConsumerRejectedError(
      target.clusterName,
      response.status,
      statusReason(response.body),
      `EKS cluster ${target.clusterName} refused ${what}: HTTP ${response.status} ${statusReason(response.body)}: ${statusMessage(response.body)}`,
    );
  }

  /** One API request with retries; any non-retryable status is returned for the caller to judge. */
  async #request(target: EksTarget, method: string, path: string, body?: { contentType: string; payload: string }): Promise<KubeResponse> {
    let last: TransientFailure | undefined;
    for (let attempt = 1; attempt <= this.#attempts; attempt += 1) {
      if (attempt > 1) await this.#sleep(this.#delay(attempt - 1));
      try {
        const access = await this.#clusterAccess(target);
        const token = await this.#token(target);
        const response = await this.#send(access, token, method, path, body);
        if (!RETRYABLE_STATUS.has(response.status)) return response;
        if (response.status === 401) this.#options.tokens.invalidate(target);
        last = new TransientFailure(response.status, `HTTP ${response.status} ${statusReason(response.body)}: ${statusMessage(response.body)}`.trim());
      } catch (error) {
        if (!(error instanceof TransientFailure)) throw error;
        if (error.tls) this.#dropAccess(target);
        last = error;
      }
    }
    throw new ConsumerUnavailableError(target.clusterName, target.region, last?.status, this.#attempts, last?.message ?? 'no answer', { cause: last });
  }

  /**
   * The bearer token; when the target's role cannot be assumed, STS's answer decides: throttling
   * or STS unreachable is retried like a cluster that does not answer, and a refusal
   * (AccessDenied, an invalid caller) is this target's refusal, not the cluster's outage.
   */
  async #token(target: EksTarget): Promise<string> {
    try {
      return await this.#options.tokens.token(target);
    } catch (error) {
      if (!(error instanceof StsError)) throw error;
      // No HTTP status: the cluster itself was not asked.
      if (error.retryable) throw new TransientFailure(undefined, error.message, false, { cause: error });
      throw new ConsumerRejectedError(target.clusterName, error.status ?? 403, error.code, `EKS cluster ${target.clusterName}: ${error.message}`);
    }
  }

  #delay(retry: number): number {
    const base = this.#options.baseDelayMs ?? 500;
    const cap = this.#options.maxDelayMs ?? 8_000;
    const exponential = Math.min(cap, base * 2 ** (retry - 1));
    // Equal jitter: at least half the backoff, so retries spread out but never bunch at zero.
    return exponential / 2 + (exponential / 2) * this.#random();
  }

  #accessKey(target: EksTarget): string {
    return `${target.region}/${target.clusterName}`;
  }

  #dropAccess(target: EksTarget): void {
    const key = this.#accessKey(target);
    this.#access.get(key)?.agent.destroy();
    this.#access.delete(key);
  }

  async #clusterAccess(target: EksTarget): Promise<ClusterAccess> {
    const key = this.#accessKey(target);
    const now = this.#options.clock.now();
    const cached = this.#access.get(key);
    if (cached !== undefined && now - cached.fetchedAt < (this.#options.clusterInfoTtlMs ?? 15 * 60_000)) return cached;
    const [client, { DescribeClusterCommand }] = await Promise.all([this.#options.eksClientFor(target.region), loadEks()]);
    const described = client.send(new DescribeClusterCommand({ name: target.clusterName }));
    const cluster = await described.then((output) => output.cluster, (error: unknown) => {
      const name = error instanceof Error ? error.name : '';
      if (name === 'ResourceNotFoundException') {
        throw new ConsumerRejectedError(target.clusterName, 404, 'ResourceNotFoundException', `EKS cluster ${target.clusterName} does not exist in ${target.region}`);
      }
      throw new TransientFailure(undefined, `DescribeCluster failed: ${name} ${error instanceof Error ? error.message : ''}`.trim(), false, { cause: error });
    });
    const endpoint = cluster?.endpoint;
    const caData = cluster?.certificateAuthority?.data;
    if (endpoint === undefined || caData === undefined || (cluster?.status !== 'ACTIVE' && cluster?.status !== 'UPDATING')) {
      throw new TransientFailure(undefined, `cluster is ${cluster?.status ?? 'not described'}${endpoint === undefined ? ' and has no endpoint yet' : ''}`);
    }
    cached?.agent.destroy();
    const access: ClusterAccess = {
      endpoint,
      // Only the cluster's own CA is trusted: `ca` replaces Node's default roots for this agent.
      agent: new Agent({ ca: Buffer.from(caData, 'base64').toString('utf8'), keepAlive: true, maxSockets: 8 }),
      fetchedAt: now,
    };
    this.#access.set(key, access);
    return access;
  }

  #send(access: ClusterAccess, token: string, method: string, path: string, body?: { contentType: string; payload: string }): Promise<KubeResponse> {
    const timeoutMs = this.#options.requestTimeoutMs ?? 10_000;
    return new Promise<KubeResponse>((resolve, reject) => {
      const url = new URL(path, access.endpoint);
      const req = httpsRequest(
        url,
        {
          method,
          agent: access.agent,
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'application/json',
            'user-agent': 'certrotate',
            ...(body === undefined ? {} : { 'content-type': body.contentType, 'content-length': Buffer.byteLength(body.payload) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => reject(new TransientFailure(undefined, `connection failed: ${error.message}`, false, { cause: error })));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // Not JSON (a proxy's error page): kept as text for the message.
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new TransientFailure(undefined, `no answer within ${timeoutMs} ms`)));
      req.on('error', (error: Error & { code?: string }) => {
        if (error instanceof TransientFailure) {
          reject(error);
          return;
        }
        const tls = TLS_ERROR.test(error.code ?? '');
        reject(new TransientFailure(undefined, `${tls ? 'TLS verification failed' : 'connection failed'}: ${error.code ?? error.message}`, tls, { cause: error }));
      });
      req.end(body?.payload);
    });
  }
}
