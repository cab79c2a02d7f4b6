/**
 * A local EKS `DescribeCluster` endpoint (REST-JSON, `GET /clusters/<name>`, SigV4-signed and
 * verified), so the real `EKSClient` learns each local cluster's endpoint and CA data.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { AwsError } from '../kit/aws-error.js';
import { closeServer, listenOnLoopback, readBody } from '../kit/http.js';
import { restJsonServer } from '../kit/json-protocol.js';
import { JSON_SIGNATURE_ERRORS, verifySignature } from '../kit/sigv4.js';

const ACCOUNT_ID = '000000000000';

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface LocalClusterEntry {
  name: string;
  /** The cluster's API endpoint, e.g. a local Kubernetes server's `https://127.0.0.1:PORT`. */
  endpoint: string;
  /** base64 of the cluster CA's PEM, as DescribeCluster returns it. */
  caData: string;
  status?: 'CREATING' | 'ACTIVE' | 'DELETING' | 'FAILED' | 'UPDATING' | 'PENDING';
  version?: string;
}

export interface LocalEksOptions {
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  clusters?: readonly LocalClusterEntry[];
  now?: () => number;
  port?: number;
}

export interface LocalEks {
  /** `http://127.0.0.1:PORT`, for `new EKSClient({ endpoint })`. */
  endpoint: string;
  region: string;
  credentials: Credentials;
  setCluster(cluster: LocalClusterEntry): void;
  removeCluster(name: string): void;
  /** DescribeCluster requests per cluster name since start or the last reset. */
  calls(): Record<string, number>;
  resetCalls(): void;
  stop(): Promise<void>;
}

/** DescribeCluster's `cluster`, as EKS answers it. */
function describe(cluster: LocalClusterEntry, region: string, createdAt: number): Record<string, unknown> {
  const { name } = cluster;
  return {
    name,
    arn: `arn:aws:eks:${region}:${ACCOUNT_ID}:cluster/${name}`,
    createdAt,
    version: cluster.version ?? '1.31',
    endpoint: cluster.endpoint,
    roleArn: `arn:aws:iam::${ACCOUNT_ID}:role/eks-cluster-role`,
    resourcesVpcConfig: { subnetIds: [], securityGroupIds: [], endpointPublicAccess: true, endpointPrivateAccess: false, publicAccessCidrs: ['0.0.0.0/0'] },
    kubernetesNetworkConfig: { serviceIpv4Cidr: '10.100.0.0/16', ipFamily: 'ipv4' },
    identity: { oidc: { issuer: `https://oidc.eks.${region}.amazonaws.com/id/${createHash('sha256').update(name).digest('hex').slice(0, 32).toUpperCase()}` } },
    status: cluster.status ?? 'ACTIVE',
    certificateAuthority: { data: cluster.caData },
    platformVersion: 'eks.1',
    tags: {},
    accessConfig: { authenticationMode: 'API' },
  };
}

export async function startLocalEks(options: LocalEksOptions = {}): Promise<LocalEks> {
  const region = options.region ?? 'us-east-1';
  const credentials = {
    accessKeyId: options.accessKeyId ?? 'AKIDLOCALEKS',
    secretAccessKey: options.secretAccessKey ?? 'local-eks-secret-access-key',
  };
  const now = options.now ?? Date.now;
  const createdAt = Math.floor(now() / 1000);
  const clusters = new Map<string, LocalClusterEntry>((options.clusters ?? []).map((c) => [c.name, c]));
  const identityFor = (id: string): Credentials | undefined => (id === credentials.accessKeyId ? credentials : undefined);
  let counts: Record<string, number> = {};

  async function handle(req: IncomingMessage): Promise<unknown> {
    const body = await readBody(req);
    await verifySignature(req, body, { service: 'eks', region, identityFor, codes: JSON_SIGNATURE_ERRORS }, now());
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/clusters\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || match?.[1] === undefined) {
      throw new AwsError('InvalidRequestException', `${req.method ?? ''} ${url.pathname} is not supported by the local EKS endpoint.`, 400);
    }
    const name = decodeURIComponent(match[1]);
    counts[name] = (counts[name] ?? 0) + 1;
    const cluster = clusters.get(name);
    if (cluster === undefined) throw new AwsError('ResourceNotFoundException', `No cluster found for name: ${name}.`, 404);
    return { cluster: describe(cluster, region, createdAt) };
  }

  const server = restJsonServer(async (req) => ({ status: 200, body: await handle(req) }), 'ServerException');
  const port = await listenOnLoopback(server, options.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    setCluster: (cluster) => {
      clusters.set(cluster.name, cluster);
    },
    removeCluster: (name) => {
      clusters.delete(name);
    },
    calls: () => ({ ...counts }),
    resetCalls: () => {
      counts = {};
    },
    stop: () => closeServer(server),
  };
}
