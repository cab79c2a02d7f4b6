import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { ConsumerRejectedError, ConsumerUnavailableError } from '../../lib/ports.js';
import { ValidationError } from '../../lib/errors.js';
import { startLocalEksClusters, withEksConsumers, type LocalEksClusters } from '../../lib/local/eks-clusters.js';

let clusters: LocalEksClusters | undefined;
afterEach(async () => {
  await clusters?.stop();
  clusters = undefined;
});

const BUNDLE = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

describe('startLocalEksClusters', () => {
  it('gives consumer entries that the configuration accepts: the bundle in every cluster and one leaf per cluster', async () => {
    clusters = await startLocalEksClusters();
    const entries = clusters.consumerEntries('cluster', ['kube-apiserver', 'kubelet-node-1']);
    expect(entries).toEqual([
      { clusterName: 'prod-eu', region: 'eu-west-1', namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle' },
      { clusterName: 'prod-eu', region: 'eu-west-1', namespace: 'certrotate', secretName: 'kube-apiserver-tls', content: { leaf: 'kube-apiserver' } },
      { clusterName: 'prod-us', region: 'eu-west-1', namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle' },
      { clusterName: 'prod-us', region: 'eu-west-1', namespace: 'certrotate', secretName: 'kubelet-node-1-tls', content: { leaf: 'kubelet-node-1' } },
    ]);
    const config = parseConfig({
      authorities: [{ name: 'cluster', consumers: { eks: entries } }],
      leaves: ['kube-apiserver', 'kubelet-node-1'].map((id) => ({ authority: 'cluster', id, subject: `CN=${id}`, usage: 'both', lifetimeDays: 30 })),
    });
    expect(config.authorities[0]?.consumers?.eks).toHaveLength(4);

    // The same entries added to an already parsed configuration, checked the same way.
    const plain = parseConfig({
      authorities: [{ name: 'cluster' }],
      leaves: ['kube-apiserver', 'kubelet-node-1'].map((id) => ({ authority: 'cluster', id, subject: `CN=${id}`, usage: 'both', lifetimeDays: 30 })),
    });
    expect(withEksConsumers(plain, 'cluster', entries).authorities[0]?.consumers).toEqual(config.authorities[0]?.consumers);
    expect(() => withEksConsumers(plain, 'cluster', clusters?.consumerEntries('cluster', ['nope']) ?? [])).toThrow(ValidationError);
  });

  it('runs the production publisher against them, and takes a cluster down and back (refused, 401, 503)', async () => {
    clusters = await startLocalEksClusters({ names: ['a', 'b'] });
    const target = (clusterName: string) => ({ authority: 'cluster', clusterName, region: 'eu-west-1', namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle', kind: 'Secret' } as const);
    await clusters.publisher.publishBundle(target('a'), BUNDLE, [1]);
    expect(clusters.bundleAt('a', 'kube-system', 'cluster-ca')).toBe(BUNDLE);
    for (const [outage, status] of [['refuse', undefined], ['unauthorized', 401], ['unavailable', 503]] as const) {
      await clusters.goDown('a', outage);
      expect(clusters.clusters[0]?.outage()).toBe(outage);
      const error: unknown = await clusters.publisher.readBack(target('a')).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConsumerUnavailableError);
      if (error instanceof ConsumerUnavailableError) expect(error.status).toBe(status);
      // The other cluster is not affected.
      expect(await clusters.publisher.readBack(target('b'))).toBeUndefined();
      await clusters.comeBack('a');
      expect((await clusters.publisher.readBack(target('a')))?.data['ca.crt']).toBe(BUNDLE);
    }
  });

  it('publishes through a target\'s role, assumed at the local STS, to a cluster whose access entries name only that role', async () => {
    const role = 'arn:aws:iam::000000000000:role/eks/certrotate-publisher';
    clusters = await startLocalEksClusters({ names: ['a', 'b'], roles: [role], accessEntries: { a: [role] } });
    const [bundle] = withEksConsumers(
      parseConfig({ authorities: [{ name: 'cluster' }], leaves: [] }),
      'cluster',
      clusters.consumerEntries('cluster', [], { roleArn: role }),
    ).authorities[0]?.consumers?.eks ?? [];
    if (bundle?.content !== 'bundle') throw new Error('expected a bundle target');
    expect(bundle).toMatchObject({ clusterName: 'a', roleArn: role });
    await clusters.publisher.publishBundle(bundle, BUNDLE, [1]);
    expect(clusters.bundleAt('a', 'kube-system', 'cluster-ca')).toBe(BUNDLE);
    expect(clusters.sts.sessions()).toEqual([
      expect.objectContaining({ roleArn: role, assumedRoleArn: 'arn:aws:sts::000000000000:assumed-role/certrotate-publisher/certrotate', issuedTo: clusters.identityArn }),
    ]);
    expect(clusters.clusters[0]?.kube.requests().map((request) => request.user)).toContain('arn:aws:iam::000000000000:role/certrotate-publisher');

    // The local identity itself is not in cluster a's access entries: 403 (retried, then unavailable).
    const { roleArn, ...plain } = bundle;
    expect(roleArn).toBe(role);
    const refused: unknown = await clusters.publisher.readBack(plain).catch((caught: unknown) => caught);
    expect(refused).toMatchObject({ name: 'ConsumerUnavailableError', status: 403 });
    // Cluster b has no access entries: anyone authenticated.
    expect(await clusters.publisher.readBack({ ...plain, clusterName: 'b' })).toBeUndefined();
    clusters.setAccessEntries('a', [clusters.identityArn]);
    expect((await clusters.publisher.readBack(plain))?.data['ca.crt']).toBe(BUNDLE);

    // A role the local STS does not know: AccessDenied, a refusal of that target.
    const unknown: unknown = await clusters.publisher.readBack({ ...plain, roleArn: 'arn:aws:iam::000000000000:role/nobody' }).catch((caught: unknown) => caught);
    expect(unknown).toBeInstanceOf(ConsumerRejectedError);
    expect(unknown).toMatchObject({ status: 403, reason: 'AccessDenied' });
    expect(() => clusters?.setAccessEntries('c', [])).toThrow(/no local EKS cluster named "c"/);
    await expect(startLocalEksClusters({ names: ['a'], accessEntries: { z: [role] } })).rejects.toThrow(/access entries for "z"/);
  });
});
