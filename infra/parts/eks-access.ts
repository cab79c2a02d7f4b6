/**
 * For every cluster named by an EKS consumer: `eks:DescribeCluster` on it for every function
 * role, and (unless told not to) access entries with AmazonEKSEditPolicy scoped to the
 * namespaces certrotate writes there: one per function role for the targets without a
 * `roleArn`, and one per role for the targets that name one (the cluster sees that role's
 * sessions, not the functions). Every function role may `sts:AssumeRole` exactly the configured
 * roles; each role's trust policy must allow the function roles (it is not this stack's).
 * Access entries live in the stack's region, so every cluster must be there: checked at synth
 * when the region is known, by a template rule (at deploy, before anything is created) when it
 * is not.
 */
import { createHash } from 'node:crypto';
import { ArnFormat, Aws, CfnRule, Fn, Stack, Token } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { eksTargetsOf, type CertrotateConfig } from '../../lib/config/index.js';
import type { FunctionRole } from './functions.js';

/** The EKS access policy every access entry gets, scoped to the configured namespaces. */
export const EKS_ACCESS_POLICY = 'AmazonEKSEditPolicy';

/** Per cluster: its region, and the namespaces each principal writes (`undefined`: the function roles). */
type Clusters = Map<string, { region: string; principals: Map<string | undefined, Set<string>> }>;

export function eksAccess(scope: Construct, config: CertrotateConfig, roles: readonly FunctionRole[], accessEntries: boolean): void {
  const targets = eksTargetsOf(config);
  if (targets.length === 0) return;
  const clusters: Clusters = new Map();
  for (const target of targets) {
    const cluster = clusters.get(target.clusterName) ?? { region: target.region, principals: new Map<string | undefined, Set<string>>() };
    const namespaces = cluster.principals.get(target.roleArn) ?? new Set<string>();
    namespaces.add(target.namespace);
    cluster.principals.set(target.roleArn, namespaces);
    clusters.set(target.clusterName, cluster);
  }
  if (accessEntries) requireStackRegion(scope, clusters);
  const stack = Stack.of(scope);
  const clusterArns = [...clusters].map(([name, cluster]) =>
    stack.formatArn({ service: 'eks', region: cluster.region, resource: 'cluster', resourceName: name, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }),
  );
  const assumed = [...new Set(targets.flatMap((target) => (target.roleArn === undefined ? [] : [target.roleArn])))].sort();
  for (const { role } of roles) {
    role.addToPolicy(new iam.PolicyStatement({ sid: 'DescribeConsumerClusters', actions: ['eks:DescribeCluster'], resources: clusterArns }));
    if (assumed.length > 0) {
      role.addToPolicy(new iam.PolicyStatement({ sid: 'AssumeConsumerRoles', actions: ['sts:AssumeRole'], resources: assumed }));
    }
  }
  if (accessEntries) accessEntriesFor(scope, clusters, roles);
}

/** Access entries are created in the stack's region: refuse clusters elsewhere, at synth or at deploy. */
function requireStackRegion(scope: Construct, clusters: Clusters): void {
  const stack = Stack.of(scope);
  if (!Token.isUnresolved(stack.region)) {
    const elsewhere = [...clusters].filter(([, cluster]) => cluster.region !== stack.region).map(([name, cluster]) => `${name} (${cluster.region})`);
    if (elsewhere.length > 0) {
      throw new Error(
        `EKS access entries are created in the stack's region ${stack.region}, but these clusters are elsewhere: ${elsewhere.join(', ')}. ` +
          'Deploy in their region, or set eksAccessEntries: false and grant access there.',
      );
    }
    return;
  }
  const regions = [...new Set([...clusters.values()].map((cluster) => cluster.region))];
  new CfnRule(scope, 'EksClustersInStackRegion', {
    assertions: regions.map((region) => ({
      assert: Fn.conditionEquals(Aws.REGION, region),
      assertDescription: `certrotate creates EKS access entries for clusters in ${region}: deploy this stack there (or set eksAccessEntries: false)`,
    })),
  });
}

function accessEntriesFor(scope: Construct, clusters: Clusters, roles: readonly FunctionRole[]): void {
  const entry = (id: string, clusterName: string, principalArn: string, namespaces: ReadonlySet<string>): void => {
    new eks.CfnAccessEntry(scope, id, {
      clusterName,
      principalArn,
      type: 'STANDARD',
      accessPolicies: [
        {
          policyArn: `arn:${Aws.PARTITION}:eks::aws:cluster-access-policy/${EKS_ACCESS_POLICY}`,
          accessScope: { type: 'namespace', namespaces: [...namespaces].sort() },
        },
      ],
    });
  };
  for (const [name, cluster] of clusters) {
    for (const [roleArn, namespaces] of cluster.principals) {
      if (roleArn === undefined) {
        for (const { name: fn, role } of roles) entry(`EksAccess${logicalPart(name)}${fn}`, name, role.roleArn, namespaces);
      } else {
        // Stable per (cluster, role ARN): an id that moved would make CloudFormation create the
        // new entry before deleting the old one, and EKS refuses two entries for one principal.
        const digest = createHash('sha256').update(roleArn).digest('hex').slice(0, 8).toUpperCase();
        entry(`EksAccess${logicalPart(name)}Role${logicalPart(roleArn.slice(roleArn.indexOf(':role/') + 6))}${digest}`, name, roleArn, namespaces);
      }
    }
  }
}

/** A cluster name as part of a construct id: letters and digits only, each run of others a capital. */
function logicalPart(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== '')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
