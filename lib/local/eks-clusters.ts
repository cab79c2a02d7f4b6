/**
 * Local EKS clusters for the embedded default: N Kubernetes API endpoints (lib/local/kubernetes-server),
 * one local EKS DescribeCluster endpoint that names them, and one local STS that their token
 * verifiers replay bearer tokens to, wired so that the production EksPublisher runs unchanged:
 * DescribeCluster through the real EKSClient, tokens signed with @smithy/signature-v4, HTTPS to
 * each cluster trusting only its CA.
 *
 * For the simulation behind `npm start`:
 *
 * ```ts
 * const eks = await startLocalEksClusters({ names: ['prod-eu', 'prod-us'], now: () => simulatedNow });
 * const config = withEksConsumers(parsedConfig, 'cluster', eks.consumerEntries('cluster', ['kube-apiserver', 'kubelet-node-1']));
 * const deps = { ...env.deps(config), publisher: eks.publisher };
 * await eks.goDown('prod-eu');              // refused connections (or 'unavailable', 'unauthorized', 'hang')
 * // ... tick for a simulated day: the rotation waits at its gate, the status names prod-eu ...
 * await eks.comeBack('prod-eu');
 * eks.leafCopy('prod-us', 'certrotate', 'kubelet-node-1-tls'); // what a workload there reads
 * await eks.stop();
 * ```
 *
 * Targets may name a role (`roles: [arn]`, then `consumerEntries(authority, leaves, { roleArn: arn })`):
 * the publisher assumes it through the local STS (a SigV4-signed AssumeRole) and signs that
 * cluster's tokens with the temporary credentials; `accessEntries: { 'prod-eu': [arn] }` makes the
 * cluster let in only that role's sessions, as an EKS access entry for the role would.
 *
 * Times: tokens (and AssumeRole requests) are signed and checked on `now` (a simulated clock is fine); the clusters' serving
 * certificates and the SigV4 of DescribeCluster use the wall clock, as TLS and the SDK do.
 */
import { parseEksConsumers, type EksTarget } from '../config/eks-targets.js';
import { EksPublisher, type EksPublisherOptions } from '../aws/eks-publisher.js';
import { EksTokenSource } from '../aws/eks-token.js';
import { roleCredentials } from '../aws/sts-assume-role.js';
import { createEksClients, type EksClients } from '../aws/clients.js';
import type { CertrotateConfig } from '../config/index.js';
import type { ConsumerPublisher, LeafContent } from '../ports.js';
import { canonicalPrincipalArn, eksTokenVerifier, startLocalEks, startLocalSts, type LocalEks, type LocalSts } from './eks-endpoints.js';
import { startLocalKubernetes, type DownMode, type KubeFault, type KubeRequestAttributes, type LocalKubernetes } from './kubernetes-server.js';

/** How a local cluster can fail: the Kubernetes server's modes, or `unauthorized` (every token gets 401). */
export type ClusterOutage = DownMode | 'unauthorized';

export interface LocalEksClustersOptions {
  /** Cluster names; two unless told (`prod-eu`, `prod-us`). */
  names?: readonly string[];
  /** The region every local cluster is in (one local EKS endpoint serves one region). */
  region?: string;
  /** Namespaces each cluster has. Default `kube-system` and `certrotate`. */
  namespaces?: readonly string[];
  /** The clock tokens are signed and verified on; the wall clock unless told. */
  now?: () => number;
  /** Overrides for the publisher (retries are short by default: a local cluster answers at once or not at all). */
  publisher?: Partial<Pick<EksPublisherOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'requestTimeoutMs' | 'clusterInfoTtlMs'>>;
  /** The identity the local EKS endpoint and STS accept (one local identity for every endpoint, if you like). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Faults a cluster answers instead of running a request (after authentication), for tests. */
  faults?: (cluster: string, request: KubeRequestAttributes & { method: string }) => KubeFault | undefined;
  /**
   * IAM role ARNs the local STS lets the local identity assume: targets may name them as
   * `roleArn`, and the publisher then signs that cluster's tokens with the role's temporary
   * credentials (AssumeRole through the local STS). Any other roleArn is AccessDenied.
   */
  roles?: readonly string[];
  /**
   * Per cluster, the IAM principal ARNs its access entries name (a role ARN stands for every
   * session of that role, as on EKS): anyone else authenticated gets 403. A cluster not listed
   * lets every authenticated caller in. The local identity is
   * `arn:aws:iam::000000000000:role/certrotate-local`.
   */
  accessEntries?: Readonly<Record<string, readonly string[]>>;
}

/** One entry of `authorities[].consumers.eks`, as the configuration file spells it. */
export interface EksConsumerEntry {
  clusterName: string;
  region: string;
  roleArn?: string;
  namespace: string;
  secretName: string;
  content: 'bundle' | { leaf: string };
}

export interface LocalEksCluster {
  name: string;
  kube: LocalKubernetes;
  /** The outage in force, if any. */
  outage(): ClusterOutage | undefined;
}

export interface LocalEksClusters {
  region: string;
  clusters: readonly LocalEksCluster[];
  /** The local EKS (DescribeCluster) and STS endpoints, for a composition of its own (the functions' env). */
  endpoints: { eks: string; sts: string };
  /** The identity the local EKS endpoint and STS accept. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The ARN the local STS names that identity by. */
  identityArn: string;
  /** The local STS (AssumeRole sessions it issued, request counts). */
  sts: LocalSts;
  /** The production EksPublisher, pointed at the local endpoints: give it to EngineDeps.publisher. */
  publisher: ConsumerPublisher;
  /**
   * Consumer entries for one authority: in every cluster, its bundle as Secret
   * `kube-system/<authority>-ca`, and the leaf `leafIds[i]` (cluster i; cycling when fewer) as
   * Secret `certrotate/<leaf>-tls`. Put them in `authorities[].consumers.eks` before parseConfig.
   */
  consumerEntries(authority: string, leafIds: readonly string[], options?: { roleArn?: string }): EksConsumerEntry[];
  /** Replaces a cluster's access entries (undefined: every authenticated caller is let in). */
  setAccessEntries(clusterName: string, principals: readonly string[] | undefined): void;
  /** Takes a cluster down: `refuse` (default; nothing listens), `reset` (its port kept, every connection reset), `unavailable` (503), `unauthorized` (401), `hang`. */
  goDown(name: string, outage?: ClusterOutage): Promise<void>;
  comeBack(name: string): Promise<void>;
  /** The `ca.crt` a Secret or ConfigMap holds, read from the cluster's store (no request). */
  bundleAt(clusterName: string, namespace: string, name: string, kind?: EksTarget['kind']): string | undefined;
  /** A leaf Secret's `tls.crt`, `tls.key` and `ca.crt`, read from the cluster's store (no request). */
  leafCopy(clusterName: string, namespace: string, name: string): LeafContent | undefined;
  stop(): Promise<void>;
}

const LOCAL_CREDENTIALS = { accessKeyId: 'AKIDCERTROTATELOCAL', secretAccessKey: 'certrotate-local-eks-secret' };

/**
 * `config` with these EKS consumer entries added to one authority's, validated exactly as the
 * configuration file's `consumers.eks` (leaf ids against the authority's inventory); throws a
 * ValidationError naming every bad entry.
 */
export function withEksConsumers(config: CertrotateConfig, authority: string, entries: readonly EksConsumerEntry[]): CertrotateConfig {
  const leafIds = new Set(config.leaves.filter((leaf) => leaf.authority === authority).map((leaf) => leaf.id));
  if (!config.authorities.some((candidate) => candidate.name === authority)) throw new Error(`no authority named "${authority}" in the configuration`);
  return {
    ...config,
    authorities: config.authorities.map((candidate) => {
      if (candidate.name !== authority) return candidate;
      const existing = candidate.consumers?.eks ?? [];
      const added = parseEksConsumers(entries, authority, { leafIds });
      return { ...candidate, consumers: { eks: [...existing, ...added] } };
    }),
  };
}

/** `arn:aws:iam::1:role/path/name` -> `arn:aws:iam::1:role/name`: how the authenticator names a role's sessions. */
function principalWithoutPath(arn: string): string {
  const match = /^(arn:[^:]+:iam::\d{12}:role\/)(?:[^/]+\/)*([^/]+)$/.exec(arn);
  return match === null ? canonicalPrincipalArn(arn) : `${match[1] ?? ''}${match[2] ?? ''}`;
}

function decodedData(object: Record<string, unknown> | undefined, base64: boolean): Record<string, string> | undefined {
  const data = object?.['data'];
  if (typeof data !== 'object' || data === null) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(data)) {
    if (typeof value === 'string') out[key] = base64 ? Buffer.from(value, 'base64').toString('utf8') : value;
  }
  return out;
}

/** In every cluster, the authority's bundle Secret and one leaf's Secret (cycling through the leaves). */
function consumerEntriesFor(
  clusters: readonly LocalEksCluster[],
  region: string,
  authority: string,
  leafIds: readonly string[],
  entryOptions: { roleArn?: string },
): EksConsumerEntry[] {
  const role = entryOptions.roleArn === undefined ? {} : { roleArn: entryOptions.roleArn };
  return clusters.flatMap((cluster, index) => {
    const entries: EksConsumerEntry[] = [
      { clusterName: cluster.name, region, ...role, namespace: 'kube-system', secretName: `${authority}-ca`, content: 'bundle' },
    ];
    const leaf = leafIds.length === 0 ? undefined : leafIds[index % leafIds.length];
    if (leaf !== undefined) {
      entries.push({ clusterName: cluster.name, region, ...role, namespace: 'certrotate', secretName: `${leaf.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-tls`, content: { leaf } });
    }
    return entries;
  });
}

function leafContent(data: Record<string, string> | undefined): LeafContent | undefined {
  const crt = data?.['tls.crt'];
  const key = data?.['tls.key'];
  const ca = data?.['ca.crt'];
  return crt === undefined || key === undefined || ca === undefined ? undefined : { 'tls.crt': crt, 'tls.key': key, 'ca.crt': ca };
}

interface ClusterWiring {
  names: readonly string[];
  namespaces: readonly string[];
  now: () => number;
  stsEndpoint: string;
  outages: Map<string, ClusterOutage>;
  accessEntries: Map<string, readonly string[]>;
}

/** One local Kubernetes server per name, authenticating as EKS does (tokens replayed to the local STS, access entries). */
async function startClusters(options: LocalEksClustersOptions, wiring: ClusterWiring, kubes: LocalKubernetes[]): Promise<LocalEksCluster[]> {
  const { names, namespaces, now, stsEndpoint, outages, accessEntries } = wiring;
  const clusters: LocalEksCluster[] = [];
  for (const name of names) {
    const verify = eksTokenVerifier({ clusterName: name, stsEndpoints: [stsEndpoint], now });
    const kube = await startLocalKubernetes({
      name,
      namespaces,
      // `unauthorized`: the authenticator refuses every token, as when an access entry is removed.
      verifyToken: async (token) => (outages.get(name) === 'unauthorized' ? undefined : verify(token)),
      // EKS access entries: the authenticator names an assumed role by its role ARN (no path).
      authorize: (user) => {
        const principals = accessEntries.get(name);
        return principals === undefined || principals.some((arn) => principalWithoutPath(arn) === user.username);
      },
      ...(options.faults === undefined ? {} : { faults: (request: KubeRequestAttributes & { method: string }) => options.faults?.(name, request) }),
    });
    kubes.push(kube);
    clusters.push({ name, kube, outage: () => outages.get(name) });
  }
  return clusters;
}

/** The production EksPublisher on the local endpoints, with short retries (a local cluster answers at once or not at all). */
function localPublisher(
  options: LocalEksClustersOptions,
  wiring: { region: string; stsEndpoint: string; baseCredentials: { accessKeyId: string; secretAccessKey: string }; clock: { now: () => number }; clients: EksClients },
): EksPublisher {
  const { region, stsEndpoint, baseCredentials, clock, clients } = wiring;
  return new EksPublisher({
    eksClientFor: (clusterRegion) => clients.eksFor(clusterRegion),
    tokens: new EksTokenSource({
      credentials: baseCredentials,
      credentialsForRole: roleCredentials(baseCredentials, clock, { region, endpoint: stsEndpoint }),
      clock,
      stsEndpoint,
    }),
    clock,
    attempts: options.publisher?.attempts ?? 2,
    baseDelayMs: options.publisher?.baseDelayMs ?? 20,
    maxDelayMs: options.publisher?.maxDelayMs ?? 100,
    requestTimeoutMs: options.publisher?.requestTimeoutMs ?? 2_000,
    ...(options.publisher?.clusterInfoTtlMs === undefined ? {} : { clusterInfoTtlMs: options.publisher.clusterInfoTtlMs }),
  });
}

export async function startLocalEksClusters(options: LocalEksClustersOptions = {}): Promise<LocalEksClusters> {
  const names = options.names ?? ['prod-eu', 'prod-us'];
  if (new Set(names).size !== names.length || names.length === 0) throw new Error('startLocalEksClusters: give one or more distinct cluster names');
  const region = options.region ?? 'eu-west-1';
  const namespaces = options.namespaces ?? ['kube-system', 'certrotate'];
  const now = options.now ?? Date.now;
  const clock = { now };
  const IDENTITY = { ...(options.credentials ?? LOCAL_CREDENTIALS), arn: 'arn:aws:iam::000000000000:role/certrotate-local' };
  const baseCredentials = { accessKeyId: IDENTITY.accessKeyId, secretAccessKey: IDENTITY.secretAccessKey };
  const accessEntries = new Map<string, readonly string[]>(Object.entries(options.accessEntries ?? {}));

  let sts: LocalSts | undefined;
  let eks: LocalEks | undefined;
  let clients: EksClients | undefined;
  const kubes: LocalKubernetes[] = [];
  const outages = new Map<string, ClusterOutage>();
  const stopAll = async (): Promise<void> => {
    clients?.destroy();
    await Promise.all([sts?.stop(), eks?.stop(), ...kubes.map((kube) => kube.stop())]);
  };
  try {
    for (const cluster of Object.keys(options.accessEntries ?? {})) {
      if (!names.includes(cluster)) throw new Error(`startLocalEksClusters: access entries for "${cluster}", which is not one of the clusters (${names.join(', ')})`);
    }
    sts = await startLocalSts({ identities: [IDENTITY], roles: (options.roles ?? []).map((arn) => ({ arn })), now });
    const stsEndpoint = sts.endpoint;
    const clusters = await startClusters(options, { names, namespaces, now, stsEndpoint, outages, accessEntries }, kubes);
    const entries = clusters.map((cluster) => ({ name: cluster.name, endpoint: cluster.kube.endpoint, caData: cluster.kube.caData }));
    eks = await startLocalEks({ region, ...baseCredentials, clusters: entries });
    clients = createEksClients({ defaultRegion: region, endpoint: eks.endpoint, maxAttempts: 1, credentials: baseCredentials });
    const eksClients = clients;
    const publisher = localPublisher(options, { region, stsEndpoint, baseCredentials, clock, clients: eksClients });

    const find = (name: string): LocalEksCluster => {
      const cluster = clusters.find((candidate) => candidate.name === name);
      if (cluster === undefined) throw new Error(`no local EKS cluster named "${name}" (have: ${names.join(', ')})`);
      return cluster;
    };
    return {
      region,
      clusters,
      endpoints: { eks: eks.endpoint, sts: stsEndpoint },
      credentials: { accessKeyId: IDENTITY.accessKeyId, secretAccessKey: IDENTITY.secretAccessKey },
      identityArn: IDENTITY.arn,
      sts,
      publisher,
      setAccessEntries(clusterName, principals) {
        find(clusterName);
        if (principals === undefined) accessEntries.delete(clusterName);
        else accessEntries.set(clusterName, [...principals]);
      },
      consumerEntries: (authority, leafIds, entryOptions = {}) => consumerEntriesFor(clusters, region, authority, leafIds, entryOptions),
      async goDown(name, outage = 'refuse') {
        const cluster = find(name);
        outages.set(name, outage);
        if (outage !== 'unauthorized') await cluster.kube.goDown(outage);
      },
      async comeBack(name) {
        const cluster = find(name);
        outages.delete(name);
        await cluster.kube.comeBack();
      },
      bundleAt(clusterName, namespace, name, kind = 'Secret') {
        const object = find(clusterName).kube.object(kind === 'Secret' ? 'secrets' : 'configmaps', namespace, name);
        return decodedData(object, kind === 'Secret')?.['ca.crt'];
      },
      leafCopy: (clusterName, namespace, name) => leafContent(decodedData(find(clusterName).kube.object('secrets', namespace, name), true)),
      async stop() {
        publisher.destroy();
        await stopAll();
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
