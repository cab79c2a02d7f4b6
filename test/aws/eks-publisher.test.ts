import { createHash } from 'node:crypto';
import { request } from 'node:https';
import { EKSClient } from '@aws-sdk/client-eks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../../lib/errors.js';
import { parseEksConsumers } from '../../lib/config/eks-targets.js';
import type { EksBundleTarget, EksLeafTarget, EksTarget } from '../../lib/config/eks-targets.js';
import {
  ConsumerRejectedError,
  ConsumerUnavailableError,
  EksPublisher,
  contentHash,
  describeLaggard,
  holdsBundle,
  holdsLeaf,
} from '../../lib/aws/eks-publisher.js';
import { EksTokenSource } from '../../lib/aws/eks-token.js';
import { RoleAccessDeniedError, StsError } from '../../lib/aws/sts-assume-role.js';
import { eksTokenVerifier, startLocalEks, startLocalSts } from '../../lib/local/eks-endpoints.js';
import type { LocalEks, LocalSts } from '../../lib/local/eks-endpoints.js';
import { startLocalKubernetes } from '../../lib/local/kubernetes-server.js';
import type { KubeFault, KubeRequestAttributes, LocalKubernetes } from '../../lib/local/kubernetes-server.js';

const REGION = 'eu-west-1';
const identity = { accessKeyId: 'AKIDPUBLISHER', secretAccessKey: 'publisher-secret', arn: 'arn:aws:iam::111122223333:role/certrotate' };
const BUNDLE_1 = '-----BEGIN CERTIFICATE-----\nMIIBgen1\n-----END CERTIFICATE-----\n';
const BUNDLE_12 = `${BUNDLE_1}-----BEGIN CERTIFICATE-----\nMIIBgen2\n-----END CERTIFICATE-----\n`;
const LEAF = { 'tls.crt': '-----BEGIN CERTIFICATE-----\nLEAF\n-----END CERTIFICATE-----\n', 'tls.key': '-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n', 'ca.crt': BUNDLE_12 };

let now = Date.now();
const clock = { now: () => now };
let sts: LocalSts;
let eks: LocalEks;
let eksClient: EKSClient;
let euKube: LocalKubernetes;
let usKube: LocalKubernetes;
let faults: ((request: KubeRequestAttributes & { method: string }) => KubeFault | undefined) | undefined;
let sleeps: number[];
let onSleep: ((count: number) => Promise<void>) | undefined;

async function cluster(name: string): Promise<LocalKubernetes> {
  return startLocalKubernetes({
    name,
    namespaces: ['kube-system', 'web'],
    verifyToken: eksTokenVerifier({ clusterName: name, stsEndpoints: [sts.endpoint], now: clock.now }),
    faults: (req) => faults?.(req),
    now: clock.now,
  });
}

function publisherWith(options: { secretAccessKey?: string } = {}): EksPublisher {
  return new EksPublisher({
    eksClientFor: () => eksClient,
    tokens: new EksTokenSource({ credentials: { ...identity, ...options }, clock, stsEndpoint: sts.endpoint }),
    clock,
    sleep: async (ms) => {
      sleeps.push(ms);
      await onSleep?.(sleeps.length);
    },
    random: () => 0.5,
    requestTimeoutMs: 300,
  });
}

const config = [
  { clusterName: 'prod-eu', region: REGION, namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle' },
  { clusterName: 'prod-us', region: REGION, namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle' },
  { clusterName: 'prod-eu', region: REGION, namespace: 'web', secretName: 'cluster-ca', kind: 'ConfigMap', content: 'bundle' },
  { clusterName: 'prod-eu', region: REGION, namespace: 'web', secretName: 'web-tls', content: { leaf: 'web-1' }, restart: [{ kind: 'Deployment', name: 'web' }, { kind: 'StatefulSet', name: 'ghost' }] },
  { clusterName: 'prod-eu', region: REGION, namespace: 'missing', secretName: 'cluster-ca', content: 'bundle' },
];
let euBundle: EksBundleTarget;
let usBundle: EksBundleTarget;
let euConfigMap: EksBundleTarget;
let webLeaf: EksLeafTarget;
let missingNamespace: EksBundleTarget;
let publisher: EksPublisher;

function bundleTarget(target: EksTarget | undefined): EksBundleTarget {
  if (target?.content !== 'bundle') throw new Error('expected a bundle target');
  return target;
}

beforeAll(async () => {
  sts = await startLocalSts({ identities: [identity], now: clock.now });
  [euKube, usKube] = await Promise.all([cluster('prod-eu'), cluster('prod-us')]);
  eks = await startLocalEks({
    region: REGION,
    clusters: [
      { name: 'prod-eu', endpoint: euKube.endpoint, caData: euKube.caData },
      { name: 'prod-us', endpoint: usKube.endpoint, caData: usKube.caData },
    ],
  });
  eksClient = new EKSClient({ endpoint: eks.endpoint, region: REGION, credentials: eks.credentials, maxAttempts: 1 });
  const targets = parseEksConsumers(config, 'cluster', { leafIds: new Set(['web-1']) });
  euBundle = bundleTarget(targets[0]);
  usBundle = bundleTarget(targets[1]);
  euConfigMap = bundleTarget(targets[2]);
  const leaf = targets[3];
  if (leaf === undefined || leaf.content === 'bundle') throw new Error('expected a leaf target');
  webLeaf = leaf;
  missingNamespace = bundleTarget(targets[4]);
});

afterAll(async () => {
  eksClient.destroy();
  await Promise.all([sts.stop(), eks.stop(), euKube.stop(), usKube.stop()]);
});

beforeEach(() => {
  faults = undefined;
  sleeps = [];
  onSleep = undefined;
  publisher = publisherWith();
  euKube.resetRequests();
  usKube.resetRequests();
  eks.resetCalls();
});
afterEach(async () => {
  publisher.destroy();
  await euKube.comeBack();
  await usKube.comeBack();
});

/** A raw call to a local cluster with a real token, as another client would make it. */
async function kubeApi(kube: LocalKubernetes, method: string, path: string, body: unknown, contentType = 'application/json'): Promise<void> {
  const token = await new EksTokenSource({ credentials: identity, clock, stsEndpoint: sts.endpoint }).token({ clusterName: kube === euKube ? 'prod-eu' : 'prod-us', region: REGION });
  await new Promise<void>((resolve, reject) => {
    const req = request(new URL(path, kube.endpoint), {
      method,
      ca: kube.caPem,
      agent: false,
      headers: { authorization: `Bearer ${token}`, 'content-type': contentType },
    }, (res) => {
      res.resume();
      res.on('end', () => ((res.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode ?? 0}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const patches = (kube: LocalKubernetes): number => kube.requests().filter((r) => r.method === 'PATCH').length;

describe('EksPublisher against local EKS, STS and Kubernetes endpoints', () => {
  it('applies a bundle Secret and reads back exactly that content, labelled, annotated and hashed', async () => {
    const result = await publisher.publishBundle(euBundle, BUNDLE_12, [1, 2]);
    expect(result.changed).toBe(true);
    const read = await publisher.readBack(euBundle);
    expect(read?.data).toEqual({ 'ca.crt': BUNDLE_12 });
    expect(read?.resourceVersion).toBe(result.resourceVersion);
    expect(read?.labels).toEqual({ 'app.kubernetes.io/managed-by': 'certrotate', 'certrotate.io/authority': 'cluster', 'certrotate.io/content': 'bundle' });
    const expectedHash = createHash('sha256').update(JSON.stringify([['ca.crt', BUNDLE_12]])).digest('hex');
    expect(contentHash({ 'ca.crt': BUNDLE_12 })).toBe(expectedHash);
    expect(read?.annotations).toEqual({ 'certrotate.io/authority': 'cluster', 'certrotate.io/generations': '1,2', 'certrotate.io/content-sha256': expectedHash });

    const stored = euKube.object('secrets', 'kube-system', 'cluster-ca');
    expect(stored).toMatchObject({ type: 'Opaque', data: { 'ca.crt': Buffer.from(BUNDLE_12).toString('base64') } });
    const managed = stored?.['metadata'];
    expect(JSON.stringify(managed)).toContain('"manager":"certrotate","operation":"Apply"');
    const patch = euKube.requests().find((r) => r.method === 'PATCH');
    expect(patch).toMatchObject({ path: '/api/v1/namespaces/kube-system/secrets/cluster-ca', status: 201, user: 'arn:aws:iam::111122223333:role/certrotate' });

    expect(holdsBundle(read, BUNDLE_12)).toBe(true);
    expect(holdsBundle(read, BUNDLE_1)).toBe(false);
    expect(holdsBundle(read, BUNDLE_12.trimEnd())).toBe(false);
    expect(holdsBundle(undefined, BUNDLE_12)).toBe(false);

    // Publishing the same again writes nothing.
    euKube.resetRequests();
    const again = await publisher.publishBundle(euBundle, BUNDLE_12, [1, 2]);
    expect(again).toMatchObject({ changed: false, resourceVersion: result.resourceVersion });
    expect(patches(euKube)).toBe(0);
  });

  it('publishes a bundle as a ConfigMap when configured', async () => {
    await publisher.publishBundle(euConfigMap, BUNDLE_1, [1]);
    expect(euKube.object('configmaps', 'web', 'cluster-ca')?.['data']).toEqual({ 'ca.crt': BUNDLE_1 });
    expect(holdsBundle(await publisher.readBack(euConfigMap), BUNDLE_1)).toBe(true);
  });

  it('publishes a leaf as a kubernetes.io/tls Secret and restarts its workloads only when it changes', async () => {
    await kubeApi(euKube, 'POST', '/apis/apps/v1/namespaces/web/deployments', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 1, template: { metadata: { labels: { app: 'web' } } } },
    });
    const templateAnnotations = (): unknown => {
      let node: unknown = euKube.object('deployments', 'web', 'web');
      for (const key of ['spec', 'template', 'metadata', 'annotations']) {
        node = typeof node === 'object' && node !== null ? Object.fromEntries(Object.entries(node))[key] : undefined;
      }
      return node;
    };

    const first = await publisher.publishLeaf(webLeaf, LEAF, 2);
    expect(first).toMatchObject({ changed: true, restarted: [{ kind: 'Deployment', name: 'web' }], missingWorkloads: [{ kind: 'StatefulSet', name: 'ghost' }] });
    const stored = euKube.object('secrets', 'web', 'web-tls');
    expect(stored?.['type']).toBe('kubernetes.io/tls');
    const read = await publisher.readBack(webLeaf);
    expect(read?.data).toEqual(LEAF);
    expect(holdsLeaf(read, LEAF)).toBe(true);
    expect(holdsLeaf(read, { ...LEAF, 'ca.crt': BUNDLE_1 })).toBe(false);
    expect(read?.annotations).toMatchObject({ 'certrotate.io/leaf': 'web-1', 'certrotate.io/generation': '2', 'certrotate.io/content-sha256': contentHash(LEAF) });
    expect(read?.labels['certrotate.io/content']).toBe('leaf');
    const restartedAt = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    expect(templateAnnotations()).toEqual({ 'kubectl.kubernetes.io/restartedAt': restartedAt, 'certrotate.io/restarted-for-sha256': contentHash(LEAF) });
    expect(euKube.object('deployments', 'web', 'web')?.['metadata']).toMatchObject({ generation: 2 });

    // Unchanged: no write, no restart.
    const same = await publisher.publishLeaf(webLeaf, LEAF, 2);
    expect(same).toMatchObject({ changed: false, restarted: [] });
    expect(euKube.object('deployments', 'web', 'web')?.['metadata']).toMatchObject({ generation: 2 });

    // A restart recorded for other content (a crash between the write and the restart): restarted.
    await kubeApi(euKube, 'PATCH', '/apis/apps/v1/namespaces/web/deployments/web', {
      spec: { template: { metadata: { annotations: { 'certrotate.io/restarted-for-sha256': 'stale' } } } },
    }, 'application/merge-patch+json');
    expect(await publisher.publishLeaf(webLeaf, LEAF, 2)).toMatchObject({ changed: false, restarted: [{ kind: 'Deployment', name: 'web' }] });
    expect(templateAnnotations()).toMatchObject({ 'certrotate.io/restarted-for-sha256': contentHash(LEAF) });

    // A renewed leaf: written and restarted again.
    now += 60_000;
    const renewed = { ...LEAF, 'tls.crt': LEAF['tls.crt'].replace('LEAF', 'LEAF2') };
    const second = await publisher.publishLeaf(webLeaf, renewed, 2);
    expect(second).toMatchObject({ changed: true, restarted: [{ kind: 'Deployment', name: 'web' }] });
    expect(templateAnnotations()).toMatchObject({ 'certrotate.io/restarted-for-sha256': contentHash(renewed) });
  });

  it('retries a 409 on apply once, then gives a ConflictError', async () => {
    let conflicts = 1;
    faults = (req) => (req.verb === 'patch' && conflicts-- > 0 ? { code: 409, reason: 'Conflict', message: 'injected conflict' } : undefined);
    await publisher.publishBundle(usBundle, BUNDLE_1, [1]);
    expect(patches(usKube)).toBe(2);
    expect(holdsBundle(await publisher.readBack(usBundle), BUNDLE_1)).toBe(true);

    usKube.resetRequests();
    faults = (req) => (req.verb === 'patch' ? { code: 409, reason: 'Conflict', message: 'injected conflict' } : undefined);
    await expect(publisher.publishBundle(usBundle, BUNDLE_12, [1, 2])).rejects.toBeInstanceOf(ConflictError);
    expect(patches(usKube)).toBe(2);
    expect(holdsBundle(await publisher.readBack(usBundle), BUNDLE_1)).toBe(true);
  });

  it('gets 401 with a token STS does not accept: retried with backoff, then ConsumerUnavailableError with the status', async () => {
    const forged = publisherWith({ secretAccessKey: 'not-the-secret' });
    const error = await forged.publishBundle(euBundle, BUNDLE_1, [1]).then(() => undefined, (e: unknown) => e);
    forged.destroy();
    expect(error).toBeInstanceOf(ConsumerUnavailableError);
    expect(error).toMatchObject({ clusterName: 'prod-eu', region: REGION, status: 401, attempts: 4 });
    expect(String(error)).toContain('EKS cluster prod-eu (eu-west-1) is unavailable after 4 attempts: HTTP 401 Unauthorized');
    expect(sleeps).toEqual([375, 750, 1500]);
    expect(euKube.requests().map((r) => r.status)).toEqual([401, 401, 401, 401]);
  });

  it('holds back only the down cluster, names it, and succeeds once it returns', async () => {
    await publisher.publishBundle(euBundle, BUNDLE_1, [1]);
    await publisher.publishBundle(usBundle, BUNDLE_1, [1]);
    await usKube.goDown('refuse');
    const error = await publisher.publishBundle(usBundle, BUNDLE_12, [1, 2]).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConsumerUnavailableError);
    expect(error).toMatchObject({ clusterName: 'prod-us', status: undefined, attempts: 4 });
    expect(String(error)).toMatch(/connection failed|ECONNREFUSED|ECONNRESET/);
    await publisher.publishBundle(euBundle, BUNDLE_12, [1, 2]);

    const checks = await publisher.checkBundle([euBundle, usBundle], BUNDLE_12);
    expect(checks.map((c) => c.holds)).toEqual([true, false]);
    expect(checks.map((c) => describeLaggard(c, [1, 2]))).toEqual([undefined, 'prod-us kube-system/cluster-ca unreachable']);

    await usKube.goDown('unavailable');
    const unavailable = await publisher.publishBundle(usBundle, BUNDLE_12, [1, 2]).then(() => undefined, (e: unknown) => e);
    expect(unavailable).toMatchObject({ clusterName: 'prod-us', status: 503 });

    // It comes back during the retries: the publish succeeds.
    sleeps = [];
    onSleep = async (count) => {
      if (count === 2) await usKube.comeBack();
    };
    await usKube.goDown('refuse');
    const result = await publisher.publishBundle(usBundle, BUNDLE_12, [1, 2]);
    expect(result.changed).toBe(true);
    expect(sleeps.length).toBe(2);
    const after = await publisher.checkBundle([euBundle, usBundle], BUNDLE_12);
    expect(after.every((c) => c.holds)).toBe(true);
  });

  it('holds back a cluster that resets every connection (down, its port kept) as it does one refusing them', async () => {
    await publisher.publishBundle(usBundle, BUNDLE_1, [1]);
    await usKube.goDown('reset');
    const error = await publisher.publishBundle(usBundle, BUNDLE_12, [1, 2]).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConsumerUnavailableError);
    expect(error).toMatchObject({ clusterName: 'prod-us', status: undefined, attempts: 4 });
    expect(String(error)).toMatch(/connection failed: ECONNRESET/);
    const [check] = await publisher.checkBundle([usBundle], BUNDLE_12);
    expect(check === undefined ? '' : describeLaggard(check, [1, 2])).toBe('prod-us kube-system/cluster-ca unreachable');
  });

  it('names what a laggard lacks', async () => {
    await publisher.publishBundle(usBundle, BUNDLE_1, [1]);
    const [check] = await publisher.checkBundle([usBundle], BUNDLE_12);
    expect(check === undefined ? '' : describeLaggard(check, [1, 2])).toBe('prod-us kube-system/cluster-ca lacks [2]');
  });

  it('times out on a cluster that never answers', async () => {
    await usKube.goDown('hang');
    const error = await publisher.readBack(usBundle).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConsumerUnavailableError);
    expect(String(error)).toContain('no answer within 300 ms');
  });

  it('trusts only the CA DescribeCluster gives: another CA fails TLS, and the cluster is described again', async () => {
    eks.setCluster({ name: 'prod-us', endpoint: usKube.endpoint, caData: euKube.caData });
    try {
      const error = await publisher.readBack(usBundle).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ConsumerUnavailableError);
      expect(String(error)).toContain('TLS verification failed');
      expect(eks.calls()).toEqual({ 'prod-us': 4 });
      expect(usKube.requestCount()).toBe(0);
    } finally {
      eks.setCluster({ name: 'prod-us', endpoint: usKube.endpoint, caData: usKube.caData });
    }
    expect(await publisher.readBack(usBundle)).toBeDefined();
  });

  it('caches DescribeCluster for its lifetime', async () => {
    await publisher.readBack(euBundle);
    await publisher.readBack(euConfigMap);
    expect(eks.calls()).toEqual({ 'prod-eu': 1 });
    now += 15 * 60_000;
    await publisher.readBack(euBundle);
    expect(eks.calls()).toEqual({ 'prod-eu': 2 });
  });

  it('rejects for good what retrying cannot fix: a missing namespace, an unknown cluster', async () => {
    const error = await publisher.publishBundle(missingNamespace, BUNDLE_1, [1]).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ConsumerRejectedError);
    expect(error).toMatchObject({ clusterName: 'prod-eu', status: 404, reason: 'NotFound' });
    expect(String(error)).toContain('namespaces "missing" not found');
    expect(patches(euKube)).toBe(1);
    const ghost = { ...euBundle, clusterName: 'ghost' };
    await expect(publisher.readBack(ghost)).rejects.toThrow('EKS cluster ghost does not exist in eu-west-1');
    expect(sleeps).toEqual([]);
  });

  it('publishes nothing when the consumer configuration is bad', () => {
    let targets: EksTarget[] = [];
    let error: unknown;
    try {
      targets = parseEksConsumers([...config, { ...config[0], namespace: 'Kube System' }], 'cluster');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect(String(error)).toContain('authorities.cluster.consumers.eks[5].namespace: "Kube System" is not a DNS-1123 label');
    expect(targets).toEqual([]);
    expect(euKube.requestCount() + usKube.requestCount()).toBe(0);
  });
});

describe('EksPublisher with a target whose role cannot be assumed', () => {
  const roleArn = 'arn:aws:iam::111122223333:role/publisher';
  function publisherFailingToAssume(error: StsError): EksPublisher {
    return new EksPublisher({
      eksClientFor: () => eksClient,
      tokens: new EksTokenSource({
        credentials: identity,
        credentialsForRole: () => () => Promise.reject(error),
        clock,
        stsEndpoint: sts.endpoint,
      }),
      clock,
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
      random: () => 0.5,
      requestTimeoutMs: 300,
    });
  }

  it('refuses that target for good on AccessDenied, without asking the cluster or retrying', async () => {
    const denied = new RoleAccessDeniedError(roleArn, 'AccessDenied', 403, false, `STS refused to let certrotate assume role ${roleArn}`);
    const failing = publisherFailingToAssume(denied);
    try {
      const error = await failing.publishBundle({ ...euBundle, roleArn }, BUNDLE_1, [1]).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ConsumerRejectedError);
      expect(error).toMatchObject({ clusterName: 'prod-eu', status: 403, reason: 'AccessDenied' });
      expect(String(error)).toContain(`assume role ${roleArn}`);
      expect(sleeps).toEqual([]);
      expect(patches(euKube)).toBe(0);
      // A target of the same cluster without the role is not affected.
      expect(typeof (await failing.publishBundle(euBundle, BUNDLE_1, [1])).resourceVersion).toBe('string');
    } finally {
      failing.destroy();
    }
  });

  it('retries a throttled or unreachable STS like a cluster that does not answer, then reports the cluster unavailable', async () => {
    const failing = publisherFailingToAssume(new StsError(roleArn, 'Throttling', 400, true, `STS AssumeRole of ${roleArn} failed (Throttling, HTTP 400): Rate exceeded`));
    try {
      const error = await failing.readBack({ ...euBundle, roleArn }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ConsumerUnavailableError);
      // The cluster itself answered nothing: no HTTP status is reported for it.
      expect(error).toMatchObject({ clusterName: 'prod-eu', status: undefined });
      expect(String(error)).toContain('Throttling');
      expect(sleeps.length).toBeGreaterThan(0);
    } finally {
      failing.destroy();
    }
  });
});
