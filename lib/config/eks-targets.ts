/**
 * EKS consumers in the configuration: where an authority's trust bundle and leaves are published
 * as Kubernetes Secrets (or, for a bundle, a ConfigMap). Parsed strictly with lib/config/validate.ts:
 * unknown keys, bad names and impossible combinations are all reported at once, with their paths.
 */
import { Problems, array, idRule, object, oneOf, preview, string } from './validate.js';

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** A workload restarted (as `kubectl rollout restart` does) after its leaf changes. */
export interface WorkloadRef {
  kind: WorkloadKind;
  name: string;
}

interface EksTargetBase {
  /** The authority whose bundle or leaf this target receives. */
  authority: string;
  clusterName: string;
  region: string;
  /** A role to assume for the cluster's bearer token; the caller's own identity when absent. */
  roleArn?: string;
  namespace: string;
  secretName: string;
}

/** The authority's trust bundle as `ca.crt` in a Secret or a ConfigMap. */
export interface EksBundleTarget extends EksTargetBase {
  content: 'bundle';
  kind: 'Secret' | 'ConfigMap';
}

/** One leaf as a `kubernetes.io/tls` Secret (`tls.crt`, `tls.key`, `ca.crt`). */
export interface EksLeafTarget extends EksTargetBase {
  content: { leaf: string };
  kind: 'Secret';
  restart: WorkloadRef[];
}

export type EksTarget = EksBundleTarget | EksLeafTarget;

export function isBundleTarget(target: EksTarget): target is EksBundleTarget {
  return target.content === 'bundle';
}

/** `prod-eu kube-system/cluster-ca`: how status lines and errors name a target. */
export function describeTarget(target: EksTarget): string {
  return `${target.clusterName} ${target.namespace}/${target.secretName}`;
}

/** Two targets with the same key would overwrite each other's object. */
export function eksTargetKey(target: EksTarget): string {
  return `${target.region}/${target.clusterName}/${target.namespace}/${target.kind}/${target.secretName}`;
}

/** EKS: 1-100 characters, a letter or digit first, then letters, digits, - and _. */
export const CLUSTER_NAME = {
  pattern: /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/,
  hint: 'is not an EKS cluster name (1-100 letters, digits, - or _, starting with a letter or digit)',
};
export const REGION = {
  pattern: /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/,
  hint: 'is not an AWS region (like eu-west-1)',
};
export const ROLE_ARN = {
  pattern: /^arn:aws(-cn|-us-gov|-iso|-iso-[a-z])?:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/,
  hint: 'is not an IAM role ARN (arn:aws:iam::123456789012:role/name)',
};
/** A namespace is a DNS-1123 label. */
export const DNS_1123_LABEL = {
  pattern: /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
  hint: 'is not a DNS-1123 label (1-63 lowercase letters, digits or -, starting and ending with a letter or digit)',
};
/** Secret, ConfigMap and workload names are DNS-1123 subdomains. */
export const DNS_1123_SUBDOMAIN = {
  pattern: /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  hint: 'is not a DNS-1123 subdomain (lowercase letters, digits, - and ., at most 253, starting and ending with a letter or digit)',
};
/** The same rule as leaf ids in lib/config/index.ts. */
const LEAF_ID = idRule(/^[A-Za-z0-9_.-]{1,128}$/, 'is not a leaf id (1-128 letters, digits, _ . or -)');

const TARGET_KEYS = {
  required: ['clusterName', 'region', 'namespace', 'secretName', 'content'],
  optional: ['roleArn', 'kind', 'restart'],
} as const;

export interface ParseEksOptions {
  /** Leaf ids of the authority; a `{ leaf }` naming another id is refused. */
  leafIds?: ReadonlySet<string>;
}

/**
 * Parses one authority's EKS targets into `problems` (nothing thrown), so a configuration loader
 * can report every problem of the whole file at once. Returns only the targets that parsed.
 */
export function parseEksTargets(
  value: unknown,
  path: string,
  problems: Problems,
  authority: string,
  options: ParseEksOptions = {},
): EksTarget[] {
  const items = array(value, path, problems) ?? [];
  const targets: EksTarget[] = [];
  const seen = new Map<string, number>();
  for (const [index, item] of items.entries()) {
    const itemPath = `${path}[${index}]`;
    const before = problems.list.length;
    const target = parseTarget(item, itemPath, problems, authority, options);
    if (target === undefined || problems.list.length > before) continue;
    const key = eksTargetKey(target);
    const first = seen.get(key);
    if (first !== undefined) {
      problems.add(itemPath, `writes the same ${target.kind} as ${path}[${first}] (${describeTarget(target)} in ${target.region})`);
      continue;
    }
    seen.set(key, index);
    targets.push(target);
  }
  return targets;
}

/** Parses one authority's EKS targets; throws one ValidationError naming every bad path. */
export function parseEksConsumers(
  value: unknown,
  authority: string,
  options: ParseEksOptions & { path?: string } = {},
): EksTarget[] {
  const problems = new Problems();
  const path = options.path ?? `authorities.${authority}.consumers.eks`;
  const targets = parseEksTargets(value, path, problems, authority, options);
  problems.throwIfAny(`the EKS consumers of authority "${authority}"`);
  return targets;
}

function parseTarget(
  value: unknown,
  path: string,
  problems: Problems,
  authority: string,
  options: ParseEksOptions,
): EksTarget | undefined {
  const fields = object(value, path, problems, TARGET_KEYS);
  if (fields === undefined) return undefined;
  const clusterName = string(fields.clusterName, `${path}.clusterName`, problems, CLUSTER_NAME);
  const region = string(fields.region, `${path}.region`, problems, REGION);
  const roleArn = fields.roleArn === undefined ? undefined : string(fields.roleArn, `${path}.roleArn`, problems, ROLE_ARN);
  const namespace = string(fields.namespace, `${path}.namespace`, problems, DNS_1123_LABEL);
  const secretName = string(fields.secretName, `${path}.secretName`, problems, DNS_1123_SUBDOMAIN);
  const content = parseContent(fields.content, `${path}.content`, problems, options);
  const kind = fields.kind === undefined ? 'Secret' : oneOf(fields.kind, `${path}.kind`, problems, ['Secret', 'ConfigMap'] as const);
  const restart = fields.restart === undefined ? [] : parseRestart(fields.restart, `${path}.restart`, problems);

  if (content !== undefined && content !== 'bundle') {
    if (kind === 'ConfigMap') {
      problems.add(`${path}.kind`, 'a leaf holds a private key, so it is published as a Secret, never a ConfigMap');
    }
  } else if (content === 'bundle' && fields.restart !== undefined) {
    problems.add(`${path}.restart`, 'restarts follow leaf changes: only a { leaf } target can name workloads to restart');
  }
  if (
    clusterName === undefined || region === undefined || namespace === undefined || secretName === undefined ||
    content === undefined || kind === undefined || restart === undefined ||
    (fields.roleArn !== undefined && roleArn === undefined)
  ) {
    return undefined;
  }
  const base = { authority, clusterName, region, ...(roleArn === undefined ? {} : { roleArn }), namespace, secretName };
  if (content === 'bundle') return { ...base, content, kind };
  return { ...base, content, kind: 'Secret', restart };
}

function parseContent(
  value: unknown,
  path: string,
  problems: Problems,
  options: ParseEksOptions,
): 'bundle' | { leaf: string } | undefined {
  if (typeof value === 'string') {
    if (value === 'bundle') return 'bundle';
    return problems.add(path, `expected "bundle" or { "leaf": "<id>" }, got the string ${preview(value)}`);
  }
  const fields = object(value, path, problems, { required: ['leaf'] });
  if (fields === undefined) return undefined;
  const leaf = string(fields.leaf, `${path}.leaf`, problems, LEAF_ID);
  if (leaf === undefined) return undefined;
  if (options.leafIds !== undefined && !options.leafIds.has(leaf)) {
    return problems.add(`${path}.leaf`, `"${leaf}" is not a leaf of this authority`);
  }
  return { leaf };
}

function parseRestart(value: unknown, path: string, problems: Problems): WorkloadRef[] | undefined {
  const items = array(value, path, problems);
  if (items === undefined) return undefined;
  const before = problems.list.length;
  const refs: WorkloadRef[] = [];
  const seen = new Set<string>();
  for (const [index, item] of items.entries()) {
    const itemPath = `${path}[${index}]`;
    const fields = object(item, itemPath, problems, { required: ['kind', 'name'] });
    if (fields === undefined) continue;
    const kind = oneOf(fields.kind, `${itemPath}.kind`, problems, WORKLOAD_KINDS);
    const name = string(fields.name, `${itemPath}.name`, problems, DNS_1123_SUBDOMAIN);
    if (kind === undefined || name === undefined) continue;
    if (seen.has(`${kind}/${name}`)) {
      problems.add(itemPath, `${kind} ${name} is named twice`);
      continue;
    }
    seen.add(`${kind}/${name}`);
    refs.push({ kind, name });
  }
  return problems.list.length > before ? undefined : refs;
}
