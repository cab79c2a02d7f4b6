import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.js';
import { Problems } from '../../lib/config/validate.js';
import { describeTarget, isBundleTarget, parseEksConsumers, parseEksTargets } from '../../lib/config/eks-targets.js';

/** Runs `fn` and returns what it threw, failing the test if it did not throw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

const bundle = { clusterName: 'prod-eu', region: 'eu-west-1', namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle' };
const leaf = {
  clusterName: 'prod-eu',
  region: 'eu-west-1',
  roleArn: 'arn:aws:iam::123456789012:role/certrotate-publisher',
  namespace: 'web',
  secretName: 'web-tls',
  content: { leaf: 'web-1' },
  restart: [{ kind: 'Deployment', name: 'web' }],
};

describe('parseEksConsumers', () => {
  it('parses bundle and leaf targets into typed targets with defaults', () => {
    const targets = parseEksConsumers([bundle, { ...bundle, secretName: 'cluster-ca-cm', kind: 'ConfigMap' }, leaf], 'cluster');
    expect(targets).toEqual([
      { authority: 'cluster', clusterName: 'prod-eu', region: 'eu-west-1', namespace: 'kube-system', secretName: 'cluster-ca', content: 'bundle', kind: 'Secret' },
      { authority: 'cluster', clusterName: 'prod-eu', region: 'eu-west-1', namespace: 'kube-system', secretName: 'cluster-ca-cm', content: 'bundle', kind: 'ConfigMap' },
      {
        authority: 'cluster',
        clusterName: 'prod-eu',
        region: 'eu-west-1',
        roleArn: 'arn:aws:iam::123456789012:role/certrotate-publisher',
        namespace: 'web',
        secretName: 'web-tls',
        content: { leaf: 'web-1' },
        kind: 'Secret',
        restart: [{ kind: 'Deployment', name: 'web' }],
      },
    ]);
    const [first, , third] = targets;
    expect(first !== undefined && isBundleTarget(first)).toBe(true);
    expect(third !== undefined && isBundleTarget(third)).toBe(false);
    expect(first === undefined ? '' : describeTarget(first)).toBe('prod-eu kube-system/cluster-ca');
  });

  it('names every bad path in one ValidationError', () => {
    const error = thrown(() =>
      parseEksConsumers(
        [
          { ...bundle, clusterName: '-bad', region: 'europe', namespace: 'Kube_System', secretName: 'CA!', colour: 'blue' },
          { ...leaf, roleArn: 'arn:aws:iam::12:user/x', kind: 'ConfigMap', restart: [{ kind: 'Pod', name: 'web' }, { kind: 'Deployment', name: 'Web' }] },
          { ...bundle, content: 'bundles' },
          { ...bundle, content: { leaf: 'no such/leaf' } },
          { ...bundle, restart: [] },
          'not an object',
        ],
        'cluster',
      ),
    );
    expect(error).toBeInstanceOf(ValidationError);
    const message = error instanceof Error ? error.message : '';
    expect(message).toContain('the EKS consumers of authority "cluster" is invalid');
    for (const path of [
      'authorities.cluster.consumers.eks[0].colour: unknown key',
      'authorities.cluster.consumers.eks[0].clusterName: "-bad" is not an EKS cluster name',
      'authorities.cluster.consumers.eks[0].region: "europe" is not an AWS region',
      'authorities.cluster.consumers.eks[0].namespace: "Kube_System" is not a DNS-1123 label',
      'authorities.cluster.consumers.eks[0].secretName: "CA!" is not a DNS-1123 subdomain',
      'authorities.cluster.consumers.eks[1].roleArn: "arn:aws:iam::12:user/x" is not an IAM role ARN',
      'authorities.cluster.consumers.eks[1].kind: a leaf holds a private key',
      'authorities.cluster.consumers.eks[1].restart[0].kind: expected one of Deployment, StatefulSet, DaemonSet',
      'authorities.cluster.consumers.eks[1].restart[1].name: "Web" is not a DNS-1123 subdomain',
      'authorities.cluster.consumers.eks[2].content: expected "bundle" or { "leaf": "<id>" }',
      'authorities.cluster.consumers.eks[3].content.leaf: "no such/leaf" is not a leaf id',
      'authorities.cluster.consumers.eks[4].restart: restarts follow leaf changes',
      'authorities.cluster.consumers.eks[5]: expected an object',
    ]) {
      expect(message).toContain(path);
    }
  });

  it('refuses a leaf id the authority does not have, and two targets writing one object', () => {
    const problems = new Problems();
    const targets = parseEksTargets([leaf, { ...leaf, content: { leaf: 'ghost' } }, bundle, { ...bundle }], 'consumers', problems, 'cluster', {
      leafIds: new Set(['web-1']),
    });
    expect(targets.map(describeTarget)).toEqual(['prod-eu web/web-tls', 'prod-eu kube-system/cluster-ca']);
    expect(problems.list).toEqual([
      'consumers[1].content.leaf: "ghost" is not a leaf of this authority',
      'consumers[3]: writes the same Secret as consumers[2] (prod-eu kube-system/cluster-ca in eu-west-1)',
    ]);
  });

  it('requires the target fields and an array', () => {
    const message = String(thrown(() => parseEksConsumers([{}], 'etcd')));
    for (const key of ['clusterName', 'region', 'namespace', 'secretName', 'content']) {
      expect(message).toContain(`authorities.etcd.consumers.eks[0].${key}: required`);
    }
    expect(String(thrown(() => parseEksConsumers({}, 'etcd')))).toContain('authorities.etcd.consumers.eks: expected an array');
  });
});
