/**
 * The EKS consumer kind: each target of an authority's `consumers.eks` (a Secret or ConfigMap
 * holding the bundle, or a `kubernetes.io/tls` Secret holding a copy of a leaf) is a consumer,
 * written and read back through the ConsumerPublisher (lib/aws/eks-publisher.ts).
 */
import { describeTarget, isBundleTarget, type EksTarget } from '../../config/eks-targets.js';
import type { AuthorityConfig } from '../../config/index.js';
import { CertrotateError } from '../../errors.js';
import type { Consumer, ConsumerPublisher, ConsumerWrite, HeldContent, LeafContent, PublishResult } from '../../ports.js';

export const EKS_CONSUMER_PREFIX = 'eks:';

/** `eks:prod-eu/kube-system/cluster-ca` (a ConfigMap: `eks:prod-eu/kube-system/configmap/cluster-ca`). */
export function eksConsumerId(target: EksTarget): string {
  const kind = target.kind === 'ConfigMap' ? 'configmap/' : '';
  return `${EKS_CONSUMER_PREFIX}${target.clusterName}/${target.namespace}/${kind}${target.secretName}`;
}

function writeOf(result: PublishResult): ConsumerWrite {
  return {
    changed: result.changed,
    restarted: result.restarted.map((workload) => `${workload.kind}/${workload.name}`),
    missing: result.missingWorkloads.map((workload) => `${workload.kind}/${workload.name}`),
  };
}

/** One target as a consumer. */
export function eksConsumer(target: EksTarget, publisher: ConsumerPublisher): Consumer {
  const name = describeTarget(target);
  const leaf = isBundleTarget(target) ? undefined : target.content.leaf;
  return {
    id: eksConsumerId(target),
    name,
    scope: `${target.region}/${target.clusterName}`,
    location: { clusterName: target.clusterName, region: target.region },
    leaf,
    restartsWorkloads: !isBundleTarget(target) && target.restart.length > 0,
    matching: 'exact',
    external: true,
    async readBack(): Promise<HeldContent | undefined> {
      return (await publisher.readBack(target))?.data;
    },
    async publishBundle(pem: string, generations: readonly number[]): Promise<ConsumerWrite> {
      if (!isBundleTarget(target)) throw new CertrotateError(`${name} holds a copy of leaf ${leaf ?? ''}: publish the leaf, with the bundle as its ca.crt`);
      return writeOf(await publisher.publishBundle(target, pem, generations));
    },
    async publishLeaf(content: LeafContent, generation: number): Promise<ConsumerWrite> {
      if (isBundleTarget(target)) throw new CertrotateError(`${name} holds the bundle alone: it takes no leaf`);
      return writeOf(await publisher.publishLeaf(target, content, generation));
    },
  };
}

/** The registration of the kind: an authority's EKS targets, when there is a publisher to reach them. */
export function eksConsumers(publisher: ConsumerPublisher | undefined): (authority: AuthorityConfig) => Consumer[] {
  return (authority) => (publisher === undefined ? [] : (authority.consumers?.eks ?? []).map((target) => eksConsumer(target, publisher)));
}
