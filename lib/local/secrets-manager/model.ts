/**
 * The Secrets Manager model: secrets and their versions, staging labels (AWSCURRENT moves
 * AWSPREVIOUS along), ClientRequestToken idempotency, filters, and the shapes answers take.
 */
import { AwsError } from '../kit/aws-error.js';
import type { Json } from '../kit/json-protocol.js';
import type { Filter } from './input.js';

/** Secrets Manager keeps about 100 versions; unlabelled (deprecated) ones beyond are removed. */
const MAX_VERSIONS = 100;

export const notFound = (message = "Secrets Manager can't find the specified secret."): AwsError =>
  new AwsError('ResourceNotFoundException', message);
export const markedForDeletion = (): AwsError =>
  new AwsError(
    'InvalidRequestException',
    "You can't perform this operation on the secret because it was marked for deletion.",
  );

export interface SecretVersion {
  id: string;
  secretString: string | undefined;
  /** Base64, as on the wire. */
  secretBinary: string | undefined;
  stages: Set<string>;
  createdMs: number;
}

export interface Secret {
  arn: string;
  name: string;
  description: string | undefined;
  kmsKeyId: string | undefined;
  tags: Map<string, string>;
  versions: Map<string, SecretVersion>;
  createdMs: number;
  lastChangedMs: number;
  lastAccessedMs: number | undefined;
  deletedMs: number | undefined;
  deletionDueMs: number | undefined;
}


/** Splits text into words as the `all` filter does: on punctuation, case and letter/digit changes. */
function words(text: string): string[] {
  return (text.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g) ?? []).map((w) => w.toLowerCase());
}

function filterMatchesValue(secret: Secret, key: string, value: string, region: string): boolean {
  switch (key) {
    case 'name':
      return secret.name.startsWith(value);
    case 'description':
      return (secret.description ?? '').toLowerCase().startsWith(value.toLowerCase()) ||
        words(secret.description ?? '').some((w) => w.startsWith(value.toLowerCase()));
    case 'tag-key':
      return [...secret.tags.keys()].some((k) => k.startsWith(value));
    case 'tag-value':
      return [...secret.tags.values()].some((v) => v.startsWith(value));
    case 'primary-region':
      return region.startsWith(value);
    case 'owning-service':
      return false;
    default: {
      const wanted = words(value);
      const have = [secret.name, secret.description ?? '', ...secret.tags.keys(), ...secret.tags.values()].flatMap(words);
      return wanted.every((w) => have.some((h) => h.startsWith(w)));
    }
  }
}

/** Values within one filter are ORed (negations excluded), filters are ANDed. */
export function matchesFilters(secret: Secret, filters: readonly Filter[], region: string): boolean {
  return filters.every((filter) => {
    const positive = filter.values.filter((v) => !v.startsWith('!'));
    const negative = filter.values.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
    const anyPositive = positive.length === 0 || positive.some((v) => filterMatchesValue(secret, filter.key, v, region));
    const anyNegative = negative.some((v) => filterMatchesValue(secret, filter.key, v, region));
    return anyPositive && !anyNegative;
  });
}

export const seconds = (ms: number): number => ms / 1000;

export type SecretValue = { secretString: string | undefined; secretBinary: string | undefined };

export function versionHolding(secret: Secret, stage: string): SecretVersion | undefined {
  for (const version of secret.versions.values()) if (version.stages.has(stage)) return version;
  return undefined;
}

/** Moves a staging label to a version; AWSCURRENT leaves AWSPREVIOUS on the version it left. */
export function moveStage(secret: Secret, stage: string, to: SecretVersion): void {
  const from = versionHolding(secret, stage);
  if (from === to) return;
  from?.stages.delete(stage);
  to.stages.add(stage);
  if (stage === 'AWSCURRENT' && from !== undefined) moveStage(secret, 'AWSPREVIOUS', from);
}

export function pruneDeprecated(secret: Secret): void {
  const deprecated = [...secret.versions.values()]
    .filter((v) => v.stages.size === 0)
    .sort((a, b) => a.createdMs - b.createdMs);
  while (secret.versions.size > MAX_VERSIONS) {
    const oldest = deprecated.shift();
    if (oldest === undefined) break;
    secret.versions.delete(oldest.id);
  }
}

/** Applies ClientRequestToken idempotency; returns the existing version for a repeated request. */
export function existingVersionForToken(secret: Secret, token: string | undefined, value: SecretValue): SecretVersion | undefined {
  if (token === undefined) return undefined;
  const existing = secret.versions.get(token);
  if (existing === undefined) return undefined;
  if (existing.secretString === value.secretString && existing.secretBinary === value.secretBinary) {
    return existing;
  }
  throw new AwsError(
    'ResourceExistsException',
    "You can't modify an existing version, you can only create a new version.",
  );
}

export function secretValueEntry(secret: Secret, version: SecretVersion): Json {
  const entry: Json = {
    ARN: secret.arn,
    Name: secret.name,
    VersionId: version.id,
    VersionStages: [...version.stages],
    CreatedDate: seconds(version.createdMs),
  };
  if (version.secretString !== undefined) entry['SecretString'] = version.secretString;
  if (version.secretBinary !== undefined) entry['SecretBinary'] = version.secretBinary;
  return entry;
}

export function versionsToStages(secret: Secret): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const version of secret.versions.values()) {
    if (version.stages.size > 0) result[version.id] = [...version.stages];
  }
  return result;
}

/** DescribeSecret's and ListSecrets' view of a secret. */
export function secretMetadata(secret: Secret, region: string): Json {
  const entry: Json = {
    ARN: secret.arn,
    Name: secret.name,
    RotationEnabled: false,
    LastChangedDate: seconds(secret.lastChangedMs),
    CreatedDate: seconds(secret.createdMs),
    PrimaryRegion: region,
  };
  if (secret.description !== undefined) entry['Description'] = secret.description;
  if (secret.kmsKeyId !== undefined) entry['KmsKeyId'] = secret.kmsKeyId;
  if (secret.lastAccessedMs !== undefined) entry['LastAccessedDate'] = seconds(secret.lastAccessedMs);
  if (secret.deletedMs !== undefined) entry['DeletedDate'] = seconds(secret.deletedMs);
  if (secret.tags.size > 0) entry['Tags'] = [...secret.tags].map(([Key, Value]) => ({ Key, Value }));
  return entry;
}
