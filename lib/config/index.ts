/**
 * certrotate's configuration file: the authorities and the leaf inventory. Human units (days,
 * hours) in the file; milliseconds in code. Everything is validated at load: unknown keys,
 * duplicate ids, leaves of unknown authorities, and a rotation lead shorter than the longest leaf
 * lifetime are errors that name the offending path, and nothing runs (or is published) on a bad
 * file.
 *
 * ```json
 * {
 *   "renewal": { "renewBeforeHours": 24, "jitterMinutes": 60 },
 *   "authorities": [
 *     { "name": "cluster", "algorithm": "p256", "caKeyStore": "kms",
 *       "caLifetimeDays": 365, "rotationLeadDays": 30, "soakHours": { "trustExpanded": 2, "leavesMigrated": 2 },
 *       "consumers": { "eks": [
 *         { "clusterName": "prod-eu", "region": "eu-west-1", "namespace": "kube-system",
 *           "secretName": "cluster-ca", "content": "bundle" },
 *         { "clusterName": "prod-eu", "region": "eu-west-1", "namespace": "web",
 *           "secretName": "cluster-ca", "kind": "ConfigMap", "content": "bundle" },
 *         { "clusterName": "prod-eu", "region": "eu-west-1", "namespace": "kube-system",
 *           "secretName": "apiserver-tls", "content": { "leaf": "kube-apiserver" },
 *           "restart": [{ "kind": "Deployment", "name": "apiserver-proxy" }] }
 *       ] } }
 *   ],
 *   "leaves": [
 *     { "authority": "cluster", "id": "kube-apiserver", "subject": "CN=kube-apiserver",
 *       "dnsNames": ["kubernetes.default.svc"], "ipAddresses": ["10.96.0.1"], "uris": [],
 *       "usage": "server", "lifetimeDays": 30, "consumers": ["kubelet-node-1"] }
 *   ]
 * }
 * ```
 *
 * `consumers.eks` (optional, per authority): Kubernetes objects in EKS clusters that receive the
 * authority's trust bundle (`"content": "bundle"`, as `ca.crt` of a Secret, or of a ConfigMap with
 * `"kind": "ConfigMap"`) or one of its leaves (`"content": { "leaf": "<id>" }`, a
 * `kubernetes.io/tls` Secret with `tls.crt`, `tls.key` and `ca.crt`; the id must be a leaf of that
 * authority). Each names `clusterName`, `region`, `namespace` and `secretName`; `roleArn` (a role
 * to assume for the cluster's token) is optional; a leaf target may list workloads to `restart`
 * (`Deployment`, `StatefulSet` or `DaemonSet`) after its leaf changes. Every bundle target (and the
 * `ca.crt` of every leaf target) is a consumer of the rotation: a phase advances only when a read
 * returns exactly the bundle it needs. Two targets that would write the same object, in one
 * authority or across authorities, are refused.
 *
 * `caKeyStore` (optional, per authority): where each new CA generation's private key lives. `"kms"`
 * (the default when absent): an asymmetric KMS key created for the generation, which never leaves
 * KMS and signs the CA and every leaf through KMS Sign; the CA secret keeps the certificate and the
 * key's ARN. The deployment needs KMS access (the CDK construct grants it). `"secret"`: a PEM
 * private key in the CA secret, as before KMS keys existed. A change takes effect at the
 * authority's next rotation; an existing deployment whose file names no caKeyStore therefore moves
 * to KMS at its next rotation (zero downtime: N keeps its PEM key until N+1 takes over). Write
 * `"caKeyStore": "secret"` to keep PEM keys.
 *
 * `leafStore` (optional, per authority): `"secretsmanager"` (the default) keeps each leaf in its own
 * secret; `"s3"` keeps it as one object (same JSON) in the construct's versioned, SSE-KMS bucket, at
 * a fraction of the price. A change migrates each leaf at its next write (renewal or rotation): it
 * is written to the new store and read from either, the new one first.
 *
 * `nameConstraints` (optional, per authority): `{ "permitted": { "dnsDomains": [...], "ipRanges":
 * [...] }, "excluded": { ... } }`, written as a critical NameConstraints extension into each new CA
 * generation (see lib/config/name-constraints.ts); a leaf outside them is an error at its name's path.
 */
import { readFileSync } from 'node:fs';
import { eksTargetKey, describeTarget, parseEksTargets, type EksTarget } from './eks-targets.js';
import { AWS_TRUST_KEYS, awsTrustWrites, parseAwsTrustTargets, type AwsTrustTargets } from './aws-trust-targets.js';
import { KEY_ALGORITHMS, dnsNameProblem, ipAddressProblem, subjectProblem, uriProblem, type KeyAlgorithm, type LeafUsage, type NameConstraints } from '../pki/index.js';
import { defaultRenewalPolicy, validateRenewalPolicy, type RenewalPolicy } from '../renewal/index.js';
import { defaultRotationConfig, validateRotationConfig, type RotationConfig, type RotationFieldNames } from '../rotation/index.js';
import { ValidationError } from '../errors.js';
import { checkLeavesAgainstNameConstraints, parseNameConstraints } from './name-constraints.js';
import { Problems, array, idRule, number, object, oneOf, preview, string, stringArray, type StringRule } from './validate.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The configuration file's keys, for rotation problems found in it. */
const FILE_FIELD_NAMES: RotationFieldNames = {
  caLifetime: 'caLifetimeDays',
  rotationLead: 'rotationLeadDays',
  soakTrustExpanded: 'soakHours.trustExpanded',
  soakLeavesMigrated: 'soakHours.leavesMigrated',
  republishAfter: 'republishAfterMinutes',
};

export interface AuthorityConfig {
  name: string;
  algorithm: KeyAlgorithm;
  rotation: RotationConfig;
  /**
   * Where new CA generations keep their key: `kms` (an asymmetric KMS key that never leaves KMS; the
   * deployment needs KMS access) or `secret` (a PEM in the CA secret). `kms` when absent (read it
   * through caKeyStoreOf). A change takes effect at the next rotation: a deployment that upgrades
   * from a release whose default was `secret`, without naming one, gets a KMS key at generation N+1
   * while N keeps signing with its PEM key; `"caKeyStore": "secret"` keeps PEM keys.
   */
  caKeyStore?: 'kms' | 'secret';
  /**
   * Where the authority's leaves live: `secretsmanager` (one secret per leaf) or `s3` (one SSE-KMS
   * object per leaf in the construct's versioned bucket, the same JSON). `secretsmanager` when
   * absent (read it through leafStoreOf). A change migrates each leaf at its next write: leaves are
   * written to the new store and read from either, the new one first.
   */
  leafStore?: LeafStoreKind;
  /** Where the authority's bundle and leaves are published besides the certificate store; absent when none are configured. */
  consumers?: { eks: EksTarget[] } & Partial<AwsTrustTargets>;
  /**
   * Written critical into each new CA generation (existing generations keep what they were made
   * with); every leaf of the authority must be inside them. Absent: the CAs may sign any name.
   */
  nameConstraints?: NameConstraints;
}

/** The key store an authority's new CA generations use: `kms` where the configuration names none. */
export function caKeyStoreOf(authority: Pick<AuthorityConfig, 'caKeyStore'>): 'kms' | 'secret' {
  return authority.caKeyStore ?? 'kms';
}

export const LEAF_STORES = ['secretsmanager', 's3'] as const;
export type LeafStoreKind = (typeof LEAF_STORES)[number];

/** Where an authority's leaves are written: `secretsmanager` where the configuration names none. */
export function leafStoreOf(authority: Pick<AuthorityConfig, 'leafStore'>): LeafStoreKind {
  return authority.leafStore ?? 'secretsmanager';
}

/** Every EKS target of the configuration, all authorities. */
export function eksTargetsOf(config: Pick<CertrotateConfig, 'authorities'>): EksTarget[] {
  return config.authorities.flatMap((authority) => authority.consumers?.eks ?? []);
}

/** One leaf of the inventory: what to issue, like for like, at every renewal. */
export interface LeafSpec {
  authority: string;
  id: string;
  subject: string;
  dnsNames: string[];
  ipAddresses: string[];
  uris: string[];
  usage: LeafUsage;
  lifetimeMs: number;
  algorithm: KeyAlgorithm;
  /** Ids of the leaves (same authority) whose workloads connect to this one: its TLS peers. */
  consumers: string[];
}

export interface CertrotateConfig {
  authorities: AuthorityConfig[];
  leaves: LeafSpec[];
  renewal: RenewalPolicy;
}

/**
 * Bounds of every number in the file, in its own units. Outside them a setting is a mistake (a CA
 * for 3e6 days encodes year 0921; renewing 1000 h early reissues a 30-day leaf on every run), so it
 * is refused with its path rather than believed.
 */
export const SETTING_BOUNDS = {
  caLifetimeDays: { min: 1, max: 7300 },
  rotationLeadDays: { min: 1 / 24, max: 7300 },
  soakHours: { min: 0, max: 720 },
  republishAfterMinutes: { min: 1, max: 1440 },
  lifetimeDays: { min: 1 / 24, max: 3650 },
  renewBeforeHours: { min: 2, max: 720 },
  jitterMinutes: { min: 0, max: 1440 },
} as const;

/**
 * Scans run hourly: a leaf must stay not-due for at least that long after it is issued, and renewal
 * starts at least two scans before expiry (renewBeforeHours >= 2), so one failed scan costs nothing.
 */
const SCAN_INTERVAL_MS = HOUR;

const NAME = { pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, hint: 'must be lowercase letters, digits and dashes (it names secrets)' };
const LEAF_ID = idRule(/^[A-Za-z0-9_.-]{1,128}$/, 'must be 1-128 letters, digits, _ . or - (it names a secret)');

function parseAuthority(value: unknown, path: string, problems: Problems): AuthorityConfig | undefined {
  const fields = object(value, path, problems, {
    required: ['name'],
    optional: ['algorithm', 'caKeyStore', 'leafStore', 'caLifetimeDays', 'rotationLeadDays', 'soakHours', 'republishAfterMinutes', 'consumers', 'nameConstraints'],
  });
  if (fields === undefined) return undefined;
  const name = string(fields.name, `${path}.name`, problems, NAME);
  const algorithm = fields.algorithm === undefined ? 'p256' : oneOf(fields.algorithm, `${path}.algorithm`, problems, KEY_ALGORITHMS);
  const days = (key: 'caLifetimeDays' | 'rotationLeadDays', fallbackMs: number) =>
    fields[key] === undefined ? fallbackMs : (number(fields[key], `${path}.${key}`, problems, SETTING_BOUNDS[key]) ?? 0) * DAY;
  const soak = fields.soakHours === undefined
    ? { trustExpanded: defaultRotationConfig.soakMs.trustExpanded / HOUR, leavesMigrated: defaultRotationConfig.soakMs.leavesMigrated / HOUR }
    : object(fields.soakHours, `${path}.soakHours`, problems, { required: ['trustExpanded', 'leavesMigrated'] });
  const rotation: RotationConfig = {
    caLifetimeMs: days('caLifetimeDays', defaultRotationConfig.caLifetimeMs),
    rotationLeadMs: days('rotationLeadDays', defaultRotationConfig.rotationLeadMs),
    soakMs: {
      trustExpanded: (number(soak?.trustExpanded, `${path}.soakHours.trustExpanded`, problems, SETTING_BOUNDS.soakHours) ?? 0) * HOUR,
      leavesMigrated: (number(soak?.leavesMigrated, `${path}.soakHours.leavesMigrated`, problems, SETTING_BOUNDS.soakHours) ?? 0) * HOUR,
    },
    republishAfterMs:
      fields.republishAfterMinutes === undefined
        ? defaultRotationConfig.republishAfterMs
        : (number(fields.republishAfterMinutes, `${path}.republishAfterMinutes`, problems, SETTING_BOUNDS.republishAfterMinutes) ?? 0) * MINUTE,
  };
  const nameConstraints = fields.nameConstraints === undefined ? undefined : parseNameConstraints(fields.nameConstraints, `${path}.nameConstraints`, problems);
  const caKeyStore = fields.caKeyStore === undefined ? undefined : oneOf(fields.caKeyStore, `${path}.caKeyStore`, problems, ['kms', 'secret'] as const);
  const leafStore = fields.leafStore === undefined ? undefined : oneOf(fields.leafStore, `${path}.leafStore`, problems, LEAF_STORES);
  if (name === undefined || algorithm === undefined) return undefined;
  // The EKS targets are parsed once the leaves are known (their leaf ids are checked against them).
  return { name, algorithm, rotation, ...(caKeyStore === undefined ? {} : { caKeyStore }), ...(leafStore === undefined ? {} : { leafStore }), ...(nameConstraints === undefined ? {} : { nameConstraints }) };
}

/** Parses `consumers` of every authority, checking leaf ids against the inventory. */
function parseConsumers(
  documents: readonly unknown[],
  authorities: readonly AuthorityConfig[],
  leaves: readonly LeafSpec[],
  problems: Problems,
): void {
  const written = new Map<string, string>();
  for (const [index, document] of documents.entries()) {
    const raw = isRecord(document) ? document['consumers'] : undefined;
    const name = isRecord(document) ? document['name'] : undefined;
    const authority = authorities.find((candidate) => candidate.name === name);
    if (raw === undefined || authority === undefined) continue;
    const path = `config.authorities[${index}].consumers`;
    const fields = object(raw, path, problems, { required: [], optional: ['eks', ...AWS_TRUST_KEYS] });
    if (fields === undefined) continue;
    parseAwsTrust(fields, path, authority, leaves, problems, written);
    if (fields.eks === undefined) continue;
    const leafIds = new Set(leaves.filter((leaf) => leaf.authority === authority.name).map((leaf) => leaf.id));
    const targets = parseEksTargets(fields.eks, `${path}.eks`, problems, authority.name, { leafIds });
    for (const [position, target] of targets.entries()) {
      const key = eksTargetKey(target);
      const other = written.get(key);
      if (other !== undefined && other !== authority.name) {
        problems.add(`${path}.eks`, `${describeTarget(target)} (${target.kind} in ${target.region}) is also written by authority "${other}"`);
      }
      written.set(key, authority.name);
      const clash = targets.findIndex((t, i) => i < position && t.clusterName === target.clusterName && t.region !== target.region);
      if (clash >= 0) {
        problems.add(`${path}.eks`, `cluster name "${target.clusterName}" is used in two regions; give each cluster a distinct name`);
      }
    }
    authority.consumers = { ...authority.consumers, eks: targets };
  }
}

/** The authority's AWS trust targets (lib/config/aws-trust-targets.ts), refusing one written by two authorities. */
function parseAwsTrust(fields: Record<string, unknown>, path: string, authority: AuthorityConfig, leaves: readonly LeafSpec[], problems: Problems, written: Map<string, string>): void {
  if (!AWS_TRUST_KEYS.some((key) => fields[key] !== undefined)) return;
  const own = new Map(leaves.filter((leaf) => leaf.authority === authority.name).map((leaf) => [leaf.id, leaf]));
  const targets = parseAwsTrustTargets(fields, path, problems, { authority: authority.name, algorithm: authority.algorithm, leaves: own });
  for (const write of new Set(awsTrustWrites(targets))) {
    const other = written.get(write);
    if (other !== undefined) problems.add(path, `${write} is also written by ${other === authority.name ? 'another target of this authority' : `authority "${other}"`}`);
    written.set(write, authority.name);
  }
  authority.consumers = { eks: [], ...targets };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseLeaf(value: unknown, path: string, problems: Problems): LeafSpec | undefined {
  const fields = object(value, path, problems, {
    required: ['authority', 'id', 'subject', 'usage', 'lifetimeDays'],
    optional: ['dnsNames', 'ipAddresses', 'uris', 'algorithm', 'consumers'],
  });
  if (fields === undefined) return undefined;
  const authority = string(fields.authority, `${path}.authority`, problems, NAME);
  const id = string(fields.id, `${path}.id`, problems, LEAF_ID);
  const subject = string(fields.subject, `${path}.subject`, problems, subjectProblem);
  const usage = oneOf(fields.usage, `${path}.usage`, problems, ['server', 'client', 'both'] as const);
  const lifetimeDays = number(fields.lifetimeDays, `${path}.lifetimeDays`, problems, SETTING_BOUNDS.lifetimeDays);
  const algorithm = fields.algorithm === undefined ? 'p256' : oneOf(fields.algorithm, `${path}.algorithm`, problems, KEY_ALGORITHMS);
  const list = (key: string, rule?: StringRule) => (fields[key] === undefined ? [] : stringArray(fields[key], `${path}.${key}`, problems, rule));
  if (authority === undefined || id === undefined || subject === undefined || usage === undefined || lifetimeDays === undefined || algorithm === undefined) {
    return undefined;
  }
  return {
    authority,
    id,
    subject,
    dnsNames: list('dnsNames', dnsNameProblem),
    ipAddresses: list('ipAddresses', ipAddressProblem),
    uris: list('uris', uriProblem),
    usage,
    lifetimeMs: lifetimeDays * DAY,
    algorithm,
    consumers: list('consumers', LEAF_ID),
  };
}

/** Validates a parsed configuration document; throws one ValidationError listing every problem. */
export function parseConfig(document: unknown): CertrotateConfig {
  const problems = new Problems();
  const root = object(document, 'config', problems, { required: ['authorities', 'leaves'], optional: ['renewal'] });
  const authorityDocuments = array(root?.authorities, 'config.authorities', problems) ?? [];
  const authorities = authorityDocuments.flatMap(
    (value, index) => parseAuthority(value, `config.authorities[${index}]`, problems) ?? [],
  );
  const leaves = (array(root?.leaves, 'config.leaves', problems) ?? []).flatMap(
    (value, index) => parseLeaf(value, `config.leaves[${index}]`, problems) ?? [],
  );
  parseConsumers(authorityDocuments, authorities, leaves, problems);
  let renewal = defaultRenewalPolicy;
  if (root?.renewal !== undefined) {
    const fields = object(root.renewal, 'config.renewal', problems, { required: [], optional: ['renewBeforeHours', 'jitterMinutes'] });
    renewal = {
      renewBeforeMs: fields?.renewBeforeHours === undefined ? defaultRenewalPolicy.renewBeforeMs : (number(fields.renewBeforeHours, 'config.renewal.renewBeforeHours', problems, SETTING_BOUNDS.renewBeforeHours) ?? 0) * HOUR,
      jitterWindowMs: fields?.jitterMinutes === undefined ? defaultRenewalPolicy.jitterWindowMs : (number(fields.jitterMinutes, 'config.renewal.jitterMinutes', problems, SETTING_BOUNDS.jitterMinutes) ?? 0) * MINUTE,
    };
  }
  problems.throwIfAny('configuration');

  const names = new Set<string>();
  for (const authority of authorities) {
    if (names.has(authority.name)) problems.add('config.authorities', `authority "${authority.name}" is defined twice`);
    names.add(authority.name);
  }
  const leafKeys = new Set<string>();
  for (const [index, leaf] of leaves.entries()) {
    const path = `config.leaves[${index}]`;
    if (!names.has(leaf.authority)) problems.add(`${path}.authority`, `no authority named "${leaf.authority}"`);
    const key = `${leaf.authority}/${leaf.id}`;
    if (leafKeys.has(key)) problems.add(`${path}.id`, `leaf "${leaf.id}" of authority "${leaf.authority}" is defined twice`);
    leafKeys.add(key);
  }
  checkLeavesAgainstNameConstraints(authorities, leaves, problems);
  const renewalWindowMs = renewal.renewBeforeMs + renewal.jitterWindowMs;
  for (const [index, leaf] of leaves.entries()) {
    if (leaf.lifetimeMs < renewalWindowMs + SCAN_INTERVAL_MS) {
      problems.add(
        `config.leaves[${index}].lifetimeDays`,
        `${leaf.lifetimeMs / DAY} days is not longer than renewal.renewBeforeHours + renewal.jitterMinutes (${renewalWindowMs / HOUR} h) ` +
          'plus the hourly scan: the leaf would be due as soon as it is issued and reissued on every run. Lengthen the leaf or lower renewBeforeHours',
      );
    }
    for (const consumer of leaf.consumers) {
      if (!leafKeys.has(`${leaf.authority}/${consumer}`)) {
        problems.add(`config.leaves[${index}].consumers`, `${preview(consumer)} is not a leaf of authority "${leaf.authority}"`);
      }
    }
  }
  for (const [index, authority] of authorities.entries()) {
    const longest = Math.max(0, ...leaves.filter((leaf) => leaf.authority === authority.name).map((leaf) => leaf.lifetimeMs));
    try {
      validateRotationConfig(authority.rotation, longest || 1, FILE_FIELD_NAMES);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems.add(`config.authorities[${index}]`, error.message);
    }
  }
  try {
    validateRenewalPolicy(renewal, { renewBefore: 'renewBeforeHours', jitterWindow: 'jitterMinutes' });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    problems.add('config.renewal', error.message);
  }
  problems.throwIfAny('configuration');
  return { authorities, leaves, renewal };
}

/** Reads and validates a JSON configuration file. */
export function loadConfigFile(path: string): CertrotateConfig {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ValidationError(`configuration file ${path} could not be read as JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return parseConfig(document);
}
