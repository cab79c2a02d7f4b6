import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { authorityPlan } from '../../lib/engine/status.js';
import type { EngineDeps } from '../../lib/engine/deps.js';
import { tick, type AuthorityReport } from '../../lib/engine/tick.js';
import { parseConfig, type CertrotateConfig } from '../../lib/config/index.js';
import { ValidationError } from '../../lib/errors.js';
import { readHandlerEnv } from '../../lib/handlers/env.js';
import type { ClusterOutage, EksConsumerEntry, LocalEksClusters, LocalEksClustersOptions } from '../../lib/local/eks-clusters.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import type { KubeFault, KubeRequestAttributes } from '../../lib/local/kubernetes-server.js';
import { CaDirectory, parseCertificate, verifyChain } from '../../lib/pki/index.js';
import type { EventSink } from '../../lib/ports.js';
import { HOUR, T0 } from '../support/pki.js';

const MINUTE = 60_000;

let env: LocalEnvironment | undefined;
let now = T0;
let faults: ((cluster: string, request: KubeRequestAttributes & { method: string }) => KubeFault | undefined) | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
  faults = undefined;
});

async function start(clusters: Pick<LocalEksClustersOptions, 'roles' | 'accessEntries'> = {}): Promise<LocalEnvironment> {
  now = T0;
  env = await startLocalEnvironment({
    eksClusters: { names: ['prod-eu', 'prod-us'], now: () => now, faults: (cluster, request) => faults?.(cluster, request), ...clusters },
  });
  return env;
}

function leaves(authority: string, count: number) {
  return Array.from({ length: count }, (_, index) => ({
    authority,
    id: `${authority}-${index}`,
    subject: `CN=${authority}-${index}`,
    dnsNames: [`${authority}-${index}.local`],
    usage: (['server', 'client', 'both'] as const)[index % 3],
    lifetimeDays: 30,
  }));
}

/** `cluster` publishes to both clusters; `etcd` only to prod-us. */
function config(consumers: Record<string, EksConsumerEntry[]>): CertrotateConfig {
  return parseConfig({
    authorities: ['cluster', 'etcd'].map((name) => ({
      name,
      caLifetimeDays: 180,
      rotationLeadDays: 30,
      soakHours: { trustExpanded: 1, leavesMigrated: 1 },
      ...(consumers[name] === undefined ? {} : { consumers: { eks: consumers[name] } }),
    })),
    leaves: [...leaves('cluster', 3), ...leaves('etcd', 2)],
  });
}

function twoAuthorities(local: LocalEnvironment): CertrotateConfig {
  const eks = local.eks;
  if (eks === undefined) throw new Error('no local EKS clusters');
  return config({
    cluster: eks.consumerEntries('cluster', ['cluster-0', 'cluster-1']),
    etcd: eks.consumerEntries('etcd', ['etcd-0']).filter((entry) => entry.clusterName === 'prod-us'),
  });
}

/**
 * The invariant over the whole field: every leaf, in its secret and in every EKS copy, verifies at
 * `at` against every bundle any consumer of its authority holds (the bundle secret, each leaf's
 * ca.crt, each EKS bundle object and each copy's ca.crt). Copies in a cluster that is down count:
 * the workloads there keep what they last read.
 */
async function fieldFailures(local: LocalEnvironment, cfg: CertrotateConfig, at: number): Promise<string[]> {
  const failures: string[] = [];
  const eks = local.eks;
  for (const authority of cfg.authorities) {
    const ids = cfg.leaves.filter((leaf) => leaf.authority === authority.name).map((leaf) => leaf.id);
    const { leaves: stored } = await local.certificates.readLeaves(authority.name, ids);
    const presented = stored.map((leaf) => ({ where: `secret ${leaf.id}`, pem: leaf.certificatePem }));
    const bundles = new Set(stored.map((leaf) => leaf.bundlePem));
    const bundle = await local.certificates.readBundle(authority.name);
    if (bundle !== undefined) bundles.add(bundle);
    for (const target of authority.consumers?.eks ?? []) {
      if (target.content === 'bundle') {
        const held = eks?.bundleAt(target.clusterName, target.namespace, target.secretName, target.kind);
        if (held !== undefined) bundles.add(held);
      } else {
        const copy = eks?.leafCopy(target.clusterName, target.namespace, target.secretName);
        if (copy !== undefined) {
          presented.push({ where: `${target.clusterName} copy of ${target.content.leaf}`, pem: copy['tls.crt'] });
          bundles.add(copy['ca.crt']);
        }
      }
    }
    for (const leaf of presented) {
      for (const pem of bundles) {
        const failure = chainFailure(leaf.pem, pem, at);
        if (failure !== undefined) failures.push(`${authority.name}: ${leaf.where}: ${failure}`);
      }
    }
  }
  return failures;
}

/** Chain checks per (leaf, bundle), once; the validity window is checked against `at` each time. */
const chains = new Map<string, { failure: string } | { from: number; until: number }>();
function chainFailure(leafPem: string, bundlePem: string, at: number): string | undefined {
  const key = `${leafPem}\n${bundlePem}`;
  let chain = chains.get(key);
  if (chain === undefined) {
    try {
      const verified = verifyChain(leafPem, bundlePem, parseCertificate(leafPem).notBefore);
      chain = { from: Math.max(verified.leaf.notBefore, verified.anchor.notBefore), until: Math.min(verified.leaf.notAfter, verified.anchor.notAfter) };
    } catch (error) {
      chain = { failure: error instanceof Error ? error.message : String(error) };
    }
    chains.set(key, chain);
  }
  if ('failure' in chain) return chain.failure;
  return at < chain.from || at > chain.until ? `not valid at ${new Date(at).toISOString()}` : undefined;
}

async function generationsOf(local: LocalEnvironment, authority: string, pem: string | undefined): Promise<number[] | undefined> {
  if (pem === undefined) return undefined;
  const cas = [];
  for (const generation of await local.certificates.listCaGenerations(authority)) {
    const stored = await local.certificates.readCa(authority, generation);
    if (stored !== undefined) cas.push({ generation, certificate: parseCertificate(stored.certificatePem) });
  }
  return new CaDirectory(cas).generationsIn(pem);
}

function byAuthority(reports: AuthorityReport[], name: string): AuthorityReport {
  const report = reports.find((candidate) => candidate.authority === name);
  if (report === undefined) throw new Error(`no report for ${name}`);
  return report;
}

async function bootstrap(deps: EngineDeps): Promise<AuthorityReport[]> {
  return tick(deps, { now, owner: 'bootstrap', mode: 'reconcile' });
}

/** Two local clusters, both authorities bootstrapped on CA 1. */
async function bootstrappedFleet(events?: EventSink): Promise<{ local: LocalEnvironment; cfg: CertrotateConfig; deps: EngineDeps; eks: LocalEksClusters }> {
  const local = await start();
  const cfg = twoAuthorities(local);
  const deps = local.deps(cfg, events);
  await bootstrap(deps);
  const eks = local.eks;
  if (eks === undefined) throw new Error('no clusters');
  return { local, cfg, deps, eks };
}

describe('tick with EKS consumers (local clusters behind the production EksPublisher)', () => {
  it('publishes each bundle and leaf to every cluster and counts a consumer only when a read returns exactly that content', async () => {
    const local = await start();
    const cfg = twoAuthorities(local);
    const events: string[] = [];
    const deps = local.deps(cfg, { emit: (event) => events.push(`${event.type} ${event.authority}`) });
    const reports = await bootstrap(deps);
    const cluster = byAuthority(reports, 'cluster');
    expect(cluster.state).toMatchObject({ phase: 'Stable', generation: 1 });
    // 1 bundle secret + 3 leaf secrets + 2 EKS bundle objects + 2 EKS leaf copies.
    expect(cluster.consumers).toMatchObject({ total: 8, holding: 8, laggards: [], failures: [] });
    expect(cluster.status).toContain('consumers 8/8 hold [1]');

    const eks = local.eks;
    if (eks === undefined) throw new Error('no clusters');
    const bundle = await local.certificates.readBundle('cluster');
    expect(eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca')).toBe(bundle);
    expect(eks.bundleAt('prod-us', 'kube-system', 'cluster-ca')).toBe(bundle);
    const { leaves: [zero] } = await local.certificates.readLeaves('cluster', ['cluster-0']);
    expect(eks.leafCopy('prod-eu', 'certrotate', 'cluster-0-tls')).toEqual({
      'tls.crt': zero?.certificatePem,
      'tls.key': zero?.privateKeyPem,
      'ca.crt': zero?.bundlePem,
    });
    // etcd is only in prod-us.
    expect(eks.bundleAt('prod-eu', 'kube-system', 'etcd-ca')).toBeUndefined();
    expect(eks.bundleAt('prod-us', 'kube-system', 'etcd-ca')).toBe(await local.certificates.readBundle('etcd'));
    expect(events).toContain('consumer-published cluster');

    // A bundle with one extra certificate appended is not "exactly" [1]: it is republished.
    await eks.publisher.publishBundle(
      { authority: 'cluster', clusterName: 'prod-eu', region: eks.region, namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle', kind: 'Secret' },
      `${bundle ?? ''}${(await local.certificates.readBundle('etcd')) ?? ''}`,
      [1],
    );
    now += 20 * MINUTE;
    const [again] = await tick(deps, { now, owner: 'again', mode: 'reconcile', authorities: ['cluster'] });
    expect(again?.steps.map((step) => step.kind)).toContain('publish-bundle');
    expect(eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca')).toBe(bundle);
    expect(again?.consumers.laggards).toEqual([]);
  });

  it('holds TrustExpanded while one cluster lacks [1 2], names it in the status, and moves on once it holds it', async () => {
    const { local, cfg, deps, eks } = await bootstrappedFleet();
    const oldBundle = await local.certificates.readBundle('cluster');
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, now);
    now += 5 * MINUTE;
    const [expanded] = await tick(deps, { now, owner: 't1', mode: 'scan', authorities: ['cluster'] });
    expect(expanded?.state?.phase).toBe('TrustExpanded');
    expect(await generationsOf(local, 'cluster', eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca'))).toEqual([1, 2]);

    // Something puts prod-eu's bundle back to [1] (a GitOps tool, a restore) during the soak.
    const target = { authority: 'cluster', clusterName: 'prod-eu', region: eks.region, namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle', kind: 'Secret' } as const;
    await eks.publisher.publishBundle(target, oldBundle ?? '', [1]);
    now += 2 * MINUTE;
    const [held] = await tick(deps, { now, owner: 't2', mode: 'scan', authorities: ['cluster'] });
    expect(held?.state?.phase).toBe('TrustExpanded');
    expect(held?.state?.gateMetAt).toBeUndefined();
    expect(held?.status).toContain('consumers 7/8: prod-eu kube-system/cluster-ca lacks [2]');
    expect(held?.consumers.laggards).toEqual(['prod-eu kube-system/cluster-ca lacks [2]']);
    // TrustExpanded began at the first tick after the command; its gate has waited since.
    expect(held?.gateWaitMs).toBe(2 * MINUTE);
    // Once the republish interval is over, plan says the run writes [1 2] to prod-eu's Secret alone.
    const cluster = cfg.authorities.find((authority) => authority.name === 'cluster');
    if (cluster === undefined) throw new Error('no cluster');
    const planned = await authorityPlan(deps, cluster, now + 10 * MINUTE, { deep: true });
    expect(planned.writes.map((write) => `${write.kind} ${write.target} <- ${write.what}`)).toEqual(['eks prod-eu kube-system/cluster-ca <- bundle [1 2]']);

    // Soak time passes, but the gate is not met: still TrustExpanded, until the republish.
    for (let i = 0; i < 3; i++) {
      now += 3 * MINUTE;
      const [report] = await tick(deps, { now, owner: `w${i}`, mode: 'scan', authorities: ['cluster'] });
      if (report?.steps.some((step) => step.kind === 'publish-bundle')) break;
      expect(report?.state?.phase).toBe('TrustExpanded');
    }
    expect(await generationsOf(local, 'cluster', eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca'))).toEqual([1, 2]);
    const phases: string[] = [];
    for (let i = 0; i < 40 && phases.at(-1) !== 'Stable'; i++) {
      now += 15 * MINUTE;
      const [report] = await tick(deps, { now, owner: `r${i}`, mode: 'scan', authorities: ['cluster'] });
      phases.push(...(report?.transitions ?? []).map((t) => t.to));
      expect(await fieldFailures(local, cfg, now)).toEqual([]);
    }
    expect(phases).toEqual(['LeavesMigrated', 'LeavesMigrated', 'Stable']);
    expect(await generationsOf(local, 'cluster', eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca'))).toEqual([2]);
    expect(await generationsOf(local, 'cluster', eks.leafCopy('prod-us', 'certrotate', 'cluster-1-tls')?.['ca.crt'])).toEqual([2]);
  });

  it('with prod-eu refusing connections for a day, holds back only its authority, keeps the invariant, and resumes when it returns', async () => {
    const events: { type: string; authority: string }[] = [];
    const { local, cfg, deps, eks } = await bootstrappedFleet({ emit: (event) => events.push(event) });
    await eks.goDown('prod-eu');
    for (const authority of ['cluster', 'etcd']) {
      await runCommand(local.state, authority, { kind: 'rotate-ca', requestId: `r-${authority}`, reason: 'test', emergency: false }, now);
    }
    const downUntil = now + 24 * HOUR;
    let sawStatus = '';
    while (now < downUntil) {
      now += HOUR;
      const reports = await tick(deps, { now, owner: `down-${now}`, mode: 'scan' });
      const cluster = byAuthority(reports, 'cluster');
      expect(cluster.state?.phase).toBe('TrustExpanded');
      sawStatus = cluster.status;
      expect(await fieldFailures(local, cfg, now)).toEqual([]);
    }
    expect(sawStatus).toMatch(/consumers 6\/8: prod-eu kube-system\/cluster-ca unreachable, prod-eu certrotate\/cluster-0-tls unreachable/);
    const [clusterState, etcdState] = await Promise.all([local.state.readState('cluster'), local.state.readState('etcd')]);
    expect(clusterState?.state.phase).toBe('TrustExpanded');
    // etcd has no consumer in prod-eu: its rotation finished while prod-eu was down.
    expect(etcdState?.state).toMatchObject({ phase: 'Stable', generation: 2, retired: [1] });
    expect(events.some((event) => event.type === 'consumer-unavailable' && event.authority === 'cluster')).toBe(true);
    expect(events.some((event) => event.type === 'consumer-unavailable' && event.authority === 'etcd')).toBe(false);
    const waited = byAuthority(await tick(deps, { now, owner: 'gate', mode: 'scan', authorities: ['cluster'] }), 'cluster');
    expect(waited.gateWaitMs).toBe(23 * HOUR);

    await eks.comeBack('prod-eu');
    const phases: string[] = [];
    for (let i = 0; i < 40 && phases.at(-1) !== 'Stable'; i++) {
      now += 15 * MINUTE;
      const [report] = await tick(deps, { now, owner: `up-${i}`, mode: 'scan', authorities: ['cluster'] });
      phases.push(...(report?.transitions ?? []).map((t) => t.to));
      expect(await fieldFailures(local, cfg, now)).toEqual([]);
    }
    expect(phases).toEqual(['LeavesMigrated', 'LeavesMigrated', 'Stable']);
    expect(await generationsOf(local, 'cluster', eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca'))).toEqual([2]);
  });

  it.each<[ClusterOutage, RegExp]>([
    ['unauthorized', /prod-eu kube-system\/cluster-ca unreachable \(HTTP 401\)/],
    ['unavailable', /prod-eu kube-system\/cluster-ca unreachable \(HTTP 503\)/],
  ])('a cluster that answers %s holds the gate and is named with its status', async (outage, named) => {
    const { local, deps, eks } = await bootstrappedFleet();
    await eks.goDown('prod-eu', outage);
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r', reason: 'test', emergency: false }, now);
    for (let i = 0; i < 8; i++) {
      now += 30 * MINUTE;
      const [report] = await tick(deps, { now, owner: `o${i}`, mode: 'scan', authorities: ['cluster'] });
      expect(report?.state?.phase).toBe('TrustExpanded');
      expect(report?.status).toMatch(named);
      expect(report?.consumers.failures.every((failure) => failure.clusterName === 'prod-eu')).toBe(true);
    }
    await eks.comeBack('prod-eu');
    now += 30 * MINUTE;
    const [back] = await tick(deps, { now, owner: 'back', mode: 'scan', authorities: ['cluster'] });
    expect(back?.consumers.laggards).toEqual([]);
    expect(back?.state?.gateMetAt).toBe(now);
  });

  it('does not drop CA 1 while a copy of a leaf in one cluster could not be replaced, and finishes once it is', async () => {
    const { local, cfg, deps, eks } = await bootstrappedFleet();
    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r', reason: 'test', emergency: false }, now);
    const phases: string[] = [];
    let last: AuthorityReport | undefined;
    for (let i = 0; i < 24; i++) {
      now += 15 * MINUTE;
      [last] = await tick(deps, { now, owner: `f${i}`, mode: 'scan', authorities: ['cluster'] });
      phases.push(...(last?.transitions ?? []).map((t) => t.to));
      expect(await fieldFailures(local, cfg, now)).toEqual([]);
      if (last?.state?.phase === 'TrustExpanded' && last.state.gateMetAt !== undefined) {
        // Every consumer holds [1 2]; from now on prod-eu refuses writes of one leaf copy (403,
        // as a broken access policy would), so that copy keeps its leaf from CA 1.
        faults = (cluster, request) =>
          cluster === 'prod-eu' && request.method === 'PATCH' && request.name === 'cluster-0-tls'
            ? { code: 403, reason: 'Forbidden', message: 'secrets "cluster-0-tls" is forbidden' }
            : undefined;
      }
    }
    // Leaves reissued from 2, but prod-eu still serves cluster-0 from 1: CA 1 stays in every bundle.
    expect(phases).toEqual(['TrustExpanded', 'LeavesMigrated']);
    expect(last?.state).toMatchObject({ phase: 'LeavesMigrated', contracting: false });
    expect(last?.status).toContain('consumers 7/8: prod-eu certrotate/cluster-0-tls unreachable (HTTP 403)');
    expect(last?.status).toContain('leaves 2/3 from 2');
    const copy = eks.leafCopy('prod-eu', 'certrotate', 'cluster-0-tls');
    const { leaves: [secret] } = await local.certificates.readLeaves('cluster', ['cluster-0']);
    expect(copy?.['tls.crt']).not.toBe(secret?.certificatePem);

    faults = undefined;
    for (let i = 0; i < 24 && phases.at(-1) !== 'Stable'; i++) {
      now += 15 * MINUTE;
      const [report] = await tick(deps, { now, owner: `g${i}`, mode: 'scan', authorities: ['cluster'] });
      phases.push(...(report?.transitions ?? []).map((t) => t.to));
      expect(await fieldFailures(local, cfg, now)).toEqual([]);
    }
    expect(phases).toEqual(['TrustExpanded', 'LeavesMigrated', 'LeavesMigrated', 'Stable']);
    const { leaves: [renewed] } = await local.certificates.readLeaves('cluster', ['cluster-0']);
    expect(eks.leafCopy('prod-eu', 'certrotate', 'cluster-0-tls')?.['tls.crt']).toBe(renewed?.certificatePem);
  });

  it('records a write that conflicts twice as a conflict of that consumer, and carries on with the others', async () => {
    const local = await start();
    const cfg = twoAuthorities(local);
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    const deps = local.deps(cfg, { emit: (event) => events.push(event) });
    faults = (cluster, request) =>
      cluster === 'prod-us' && request.method === 'PATCH' && request.name === 'cluster-ca'
        ? { code: 409, reason: 'Conflict', message: 'Operation cannot be fulfilled on secrets "cluster-ca": the object has been modified' }
        : undefined;
    const [report] = await tick(deps, { now, owner: 'c', mode: 'reconcile', authorities: ['cluster'] });
    expect(report?.consumers.failures).toEqual([
      expect.objectContaining({ consumer: 'eks:prod-us/kube-system/cluster-ca', kind: 'conflict', status: 409, action: 'publish' }),
    ]);
    expect(events).toContainEqual(expect.objectContaining({ type: 'consumer-conflict' }));
    // Not bootstrapped while prod-us lacks [1]; every other consumer got it.
    expect(report?.state?.generation).toBe(0);
    expect(local.eks?.bundleAt('prod-eu', 'kube-system', 'cluster-ca')).toBe(await local.certificates.readBundle('cluster'));
    expect(local.eks?.bundleAt('prod-us', 'kube-system', 'cluster-ca')).toBeUndefined();

    faults = undefined;
    now += 15 * MINUTE;
    const [after] = await tick(deps, { now, owner: 'd', mode: 'scan', authorities: ['cluster'] });
    expect(after?.state).toMatchObject({ phase: 'Stable', generation: 1 });
  });

  it('refuses a bad consumer configuration with every problem and its path, and publishes nothing', async () => {
    const local = await start();
    const entries = [
      { clusterName: 'prod-eu', region: 'eu-west-1', namespace: 'Kube_System', secretName: 'cluster-ca', content: 'bundle' },
      { clusterName: 'prod-eu', region: 'eu-west-1', namespace: 'certrotate', secretName: 'x-tls', content: { leaf: 'etcd-0' } },
      { clusterName: 'prod-eu', region: 'eu-west-1', namespace: 'certrotate', secretName: 'y-tls', kind: 'ConfigMap', content: { leaf: 'cluster-0' } },
      { clusterName: 'prod-eu', region: 'eu-west-1', namespace: 'kube-system', secretName: 'ca', content: 'bundle', colour: 'blue' },
    ];
    const document = {
      authorities: [
        { name: 'cluster', consumers: { eks: entries } },
        { name: 'etcd', consumers: { eks: [{ clusterName: 'prod-us', region: 'eu-west-1', namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle' }] } },
        { name: 'other', consumers: { eks: [{ clusterName: 'prod-us', region: 'eu-west-1', namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle' }] } },
      ],
      leaves: [...leaves('cluster', 1), ...leaves('etcd', 1)],
    };
    let error: unknown;
    try {
      parseConfig(document);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const message = String(error);
    expect(message).toContain('config.authorities[0].consumers.eks[0].namespace: "Kube_System" is not a DNS-1123 label');
    expect(message).toContain('config.authorities[0].consumers.eks[1].content.leaf: "etcd-0" is not a leaf of this authority');
    expect(message).toContain('config.authorities[0].consumers.eks[2].kind: a leaf holds a private key');
    expect(message).toContain('config.authorities[0].consumers.eks[3].colour: unknown key');
    expect(message).toContain('config.authorities[2].consumers.eks: prod-us kube-system/cluster-ca (Secret in eu-west-1) is also written by authority "etcd"');
    // The functions refuse to start on it: nothing is composed, nothing is published.
    expect(() => readHandlerEnv({ AWS_REGION: 'eu-west-1', CERTROTATE_TABLE_NAME: 'table', CERTROTATE_CONFIG: JSON.stringify(document) })).toThrow(/consumers\.eks\[0\]\.namespace/);
    expect(local.eks?.clusters.map((cluster) => cluster.kube.requestCount())).toEqual([0, 0]);
  });

  it('publishes through targets with a roleArn to clusters that let in only that role\'s sessions, across a whole rotation', async () => {
    const role = 'arn:aws:iam::000000000000:role/certrotate-publisher';
    const local = await start({ roles: [role], accessEntries: { 'prod-eu': [role], 'prod-us': [role] } });
    const eks = local.eks;
    if (eks === undefined) throw new Error('no clusters');
    const cfg = config({
      cluster: eks.consumerEntries('cluster', ['cluster-0', 'cluster-1'], { roleArn: role }),
      etcd: eks.consumerEntries('etcd', ['etcd-0'], { roleArn: role }).filter((entry) => entry.clusterName === 'prod-us'),
    });
    const deps = local.deps(cfg);
    const [cluster] = await tick(deps, { now, owner: 'bootstrap', mode: 'reconcile', authorities: ['cluster'] });
    expect(cluster?.state).toMatchObject({ phase: 'Stable', generation: 1 });
    expect(cluster?.consumers).toMatchObject({ total: 8, holding: 8, laggards: [], failures: [] });
    // Every request the clusters answered came from the assumed role, none from the functions' identity.
    const users = new Set(eks.clusters.flatMap((c) => c.kube.requests().map((request) => request.user)));
    expect([...users]).toEqual([role]);
    const sessions = eks.sts.sessions();
    // One AssumeRole for both clusters and all four targets: the credentials are cached.
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ roleArn: role, assumedRoleArn: 'arn:aws:sts::000000000000:assumed-role/certrotate-publisher/certrotate', issuedTo: eks.identityArn });

    await runCommand(local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r', reason: 'test', emergency: false }, now);
    const phases: string[] = [];
    for (let i = 0; i < 40 && phases.at(-1) !== 'Stable'; i++) {
      now += 15 * MINUTE;
      const [report] = await tick(deps, { now, owner: `r${i}`, mode: 'scan', authorities: ['cluster'] });
      phases.push(...(report?.transitions ?? []).map((t) => t.to));
      expect(report?.consumers.failures).toEqual([]);
      expect(await fieldFailures(local, cfg, now)).toEqual([]);
    }
    expect(phases).toEqual(['TrustExpanded', 'LeavesMigrated', 'LeavesMigrated', 'Stable']);
    expect(await generationsOf(local, 'cluster', eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca'))).toEqual([2]);
    // Sessions last 15 minutes: the publisher assumed the role again as they ran out, never used one past its end.
    const renewed = eks.sts.sessions();
    expect(renewed.length).toBeGreaterThan(2);
    for (const [index, session] of renewed.entries()) {
      const next = renewed[index + 1];
      if (next !== undefined) expect(next.expiration.getTime() - session.expiration.getTime()).toBeGreaterThanOrEqual(10 * MINUTE);
    }

    // The same targets without the role are refused by both clusters: only the role is let in.
    const plain = config({ cluster: eks.consumerEntries('cluster', ['cluster-0', 'cluster-1']) });
    now += 15 * MINUTE;
    const [refused] = await tick(local.deps(plain), { now, owner: 'plain', mode: 'scan', authorities: ['cluster'] });
    expect(refused?.status).toMatch(/prod-eu kube-system\/cluster-ca unreachable \(HTTP 403\)/);
    const failures = refused?.consumers.failures ?? [];
    expect(new Set(failures.map((failure) => failure.clusterName))).toEqual(new Set(['prod-eu', 'prod-us']));
    for (const failure of failures) {
      expect(failure).toMatchObject({ kind: 'unavailable', status: 403 });
      expect(failure.message).toContain(`User "${eks.identityArn}" cannot`);
    }
  });

  it('names a target whose role STS refuses as refused (AccessDenied), and holds back only the gates it belongs to', async () => {
    const role = 'arn:aws:iam::000000000000:role/certrotate-publisher';
    const local = await start({ roles: [role] });
    const eks = local.eks;
    if (eks === undefined) throw new Error('no clusters');
    const nobody = 'arn:aws:iam::000000000000:role/not-trusted';
    const entries = eks.consumerEntries('cluster', ['cluster-0', 'cluster-1']).map((entry) =>
      entry.clusterName === 'prod-eu' && entry.content === 'bundle' ? { ...entry, roleArn: nobody } : entry,
    );
    const cfg = config({ cluster: entries, etcd: eks.consumerEntries('etcd', ['etcd-0'], { roleArn: role }).filter((entry) => entry.clusterName === 'prod-us') });
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    const reports = await tick(local.deps(cfg, { emit: (event) => events.push(event) }), { now, owner: 'b', mode: 'reconcile' });
    const cluster = byAuthority(reports, 'cluster');
    expect(cluster.state?.generation).toBe(0);
    expect(cluster.status).toContain('prod-eu kube-system/cluster-ca refused (HTTP 403)');
    // Read back, then published: both refused, for that target only.
    const failures = cluster.consumers.failures;
    expect(failures.map((failure) => [failure.target, failure.action, failure.kind, failure.status])).toEqual([
      ['prod-eu kube-system/cluster-ca', 'read', 'rejected', 403],
      ['prod-eu kube-system/cluster-ca', 'publish', 'rejected', 403],
    ]);
    for (const failure of failures) expect(failure.message).toContain(`assume role ${nobody} (AccessDenied`);
    expect(cluster.consumers.laggards).toEqual(['prod-eu kube-system/cluster-ca refused (HTTP 403)']);
    expect(events).toContainEqual(expect.objectContaining({ type: 'consumer-rejected' }));
    // prod-us got the bundle; the authority waits for prod-eu's. etcd (through a role STS grants) bootstrapped.
    expect(eks.bundleAt('prod-us', 'kube-system', 'cluster-ca')).toBe(await local.certificates.readBundle('cluster'));
    expect(eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca')).toBeUndefined();
    expect(byAuthority(reports, 'etcd').state).toMatchObject({ phase: 'Stable', generation: 1 });
  });
});
