/**
 * The Secrets Manager operations certrotate uses, one method each, all synchronous so each runs
 * atomically: CreateSecret, PutSecretValue, GetSecretValue, BatchGetSecretValue, ListSecrets,
 * DescribeSecret, TagResource, UpdateSecretVersionStage, DeleteSecret, RestoreSecret.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsError } from '../kit/aws-error.js';
import type { Json } from '../kit/json-protocol.js';
import {
  checkToken,
  decodeNextToken,
  encodeNextToken,
  invalidParameter,
  optionalBoolean,
  optionalFilters,
  optionalNumber,
  optionalString,
  optionalStringList,
  optionalTags,
  readSecretValue,
  requiredString,
  type Filter,
} from './input.js';
import {
  existingVersionForToken,
  markedForDeletion,
  matchesFilters,
  moveStage,
  notFound,
  pruneDeprecated,
  secretMetadata,
  secretValueEntry,
  seconds,
  versionHolding,
  versionsToStages,
  type Secret,
  type SecretVersion,
} from './model.js';

const ACCOUNT_ID = '000000000000';
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]+$/;
const ARN_SUFFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export class SecretsManagerBackend {
  private readonly secrets = new Map<string, Secret>();
  /** Secrets scheduled for deletion, so purging need not look at every secret on every request. */
  private readonly scheduled = new Set<Secret>();

  constructor(
    private readonly region: string,
    private readonly now: () => number,
  ) {}

  /** Every secret held, scheduled ones included (the sandbox snapshots them to disk). */
  exportSecrets(): Secret[] {
    return [...this.secrets.values()];
  }

  /** Puts back secrets exported earlier (before any request: a restarted sandbox). */
  importSecrets(secrets: readonly Secret[]): void {
    for (const secret of secrets) {
      this.secrets.set(secret.name, secret);
      if (secret.deletionDueMs !== undefined) this.scheduled.add(secret);
    }
  }

  /** Removes secrets whose recovery window has passed, as the service does in the background. */
  purgeExpired(): void {
    if (this.scheduled.size === 0) return;
    const now = this.now();
    for (const secret of this.scheduled) {
      if (secret.deletionDueMs === undefined) {
        this.scheduled.delete(secret);
      } else if (secret.deletionDueMs <= now) {
        this.scheduled.delete(secret);
        if (this.secrets.get(secret.name) === secret) this.secrets.delete(secret.name);
      }
    }
  }

  /** The operations this endpoint serves, by their X-Amz-Target name. */
  readonly #operations: Record<string, (input: Json) => Json> = {
    CreateSecret: (input) => this.createSecret(input),
    PutSecretValue: (input) => this.putSecretValue(input),
    GetSecretValue: (input) => this.getSecretValue(input),
    BatchGetSecretValue: (input) => this.batchGetSecretValue(input),
    ListSecrets: (input) => this.listSecrets(input),
    DescribeSecret: (input) => this.describeSecret(input),
    TagResource: (input) => this.tagResource(input),
    UpdateSecretVersionStage: (input) => this.updateSecretVersionStage(input),
    DeleteSecret: (input) => this.deleteSecret(input),
    RestoreSecret: (input) => this.restoreSecret(input),
  };

  run(operation: string, input: Json): Json {
    const handler = Object.hasOwn(this.#operations, operation) ? this.#operations[operation] : undefined;
    if (handler === undefined) throw new AwsError('UnknownOperationException', `Unknown operation ${operation}.`);
    return handler(input);
  }

  private arnPrefix(name: string): string {
    return `arn:aws:secretsmanager:${this.region}:${ACCOUNT_ID}:secret:${name}`;
  }

  /** Finds a secret by name, full ARN or partial ARN (without the random suffix). */
  private find(secretId: string): Secret | undefined {
    const byName = this.secrets.get(secretId);
    if (byName !== undefined) return byName;
    if (!secretId.startsWith('arn:')) return undefined;
    for (const secret of this.secrets.values()) {
      if (secret.arn === secretId || this.arnPrefix(secret.name) === secretId) return secret;
    }
    return undefined;
  }

  private resolve(input: Json, options: { allowDeleted: boolean }): Secret {
    const secret = this.find(requiredString(input, 'SecretId'));
    if (secret === undefined) throw notFound();
    if (!options.allowDeleted && secret.deletedMs !== undefined) throw markedForDeletion();
    return secret;
  }

  private createSecret(input: Json): Json {
    const name = requiredString(input, 'Name');
    if (name.length > 512 || !NAME_PATTERN.test(name)) {
      throw invalidParameter(
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@',
      );
    }
    const token = optionalString(input, 'ClientRequestToken');
    checkToken(token);
    const value = readSecretValue(input, false);
    const description = optionalString(input, 'Description');
    if (description !== undefined && description.length > 2048) {
      throw invalidParameter('Description must be at most 2048 characters.');
    }
    const kmsKeyId = optionalString(input, 'KmsKeyId');
    const tags = optionalTags(input, 'Tags') ?? [];
    if (tags.length > 50) throw invalidParameter('A secret can have at most 50 tags.');

    const existing = this.secrets.get(name);
    if (existing !== undefined) {
      if (existing.deletedMs !== undefined) {
        throw new AwsError(
          'InvalidRequestException',
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
        );
      }
      const repeated = existingVersionForToken(existing, token, value);
      if (repeated !== undefined) {
        return { ARN: existing.arn, Name: existing.name, VersionId: repeated.id };
      }
      throw new AwsError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    }

    const now = this.now();
    const suffix = [...randomBytes(6)].map((b) => ARN_SUFFIX_ALPHABET[b % ARN_SUFFIX_ALPHABET.length] ?? 'a').join('');
    const secret: Secret = {
      arn: `${this.arnPrefix(name)}-${suffix}`,
      name,
      description,
      kmsKeyId,
      tags: new Map(tags.map((t) => [t.key, t.value])),
      versions: new Map(),
      createdMs: now,
      lastChangedMs: now,
      lastAccessedMs: undefined,
      deletedMs: undefined,
      deletionDueMs: undefined,
    };
    this.secrets.set(name, secret);
    const output: Json = { ARN: secret.arn, Name: secret.name };
    if (value.secretString !== undefined || value.secretBinary !== undefined) {
      const version: SecretVersion = { id: token ?? randomUUID(), ...value, stages: new Set(['AWSCURRENT']), createdMs: now };
      secret.versions.set(version.id, version);
      output['VersionId'] = version.id;
    }
    return output;
  }

  private putSecretValue(input: Json): Json {
    const secret = this.resolve(input, { allowDeleted: false });
    const token = optionalString(input, 'ClientRequestToken');
    checkToken(token);
    const value = readSecretValue(input, true);
    const stages = optionalStringList(input, 'VersionStages') ?? ['AWSCURRENT'];
    if (stages.length > 20 || stages.some((s) => s.length < 1 || s.length > 256)) {
      throw invalidParameter('VersionStages must hold at most 20 labels of 1 to 256 characters.');
    }
    const repeated = existingVersionForToken(secret, token, value);
    if (repeated !== undefined) {
      return { ARN: secret.arn, Name: secret.name, VersionId: repeated.id, VersionStages: [...repeated.stages] };
    }
    const now = this.now();
    const version: SecretVersion = { id: token ?? randomUUID(), ...value, stages: new Set(), createdMs: now };
    secret.versions.set(version.id, version);
    for (const stage of stages) moveStage(secret, stage, version);
    secret.lastChangedMs = now;
    pruneDeprecated(secret);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  private touch(secret: Secret): void {
    const day = 86_400_000;
    secret.lastAccessedMs = Math.floor(this.now() / day) * day;
  }

  private getSecretValue(input: Json): Json {
    const secret = this.resolve(input, { allowDeleted: false });
    const versionId = optionalString(input, 'VersionId');
    const versionStage = optionalString(input, 'VersionStage');
    let version: SecretVersion | undefined;
    if (versionId !== undefined) {
      version = secret.versions.get(versionId);
      if (version === undefined || (versionStage !== undefined && !version.stages.has(versionStage))) {
        throw notFound(
          `Secrets Manager can't find the specified secret value for VersionId: ${versionId}` +
            (versionStage === undefined ? '' : ` and staging label: ${versionStage}`),
        );
      }
    } else {
      const stage = versionStage ?? 'AWSCURRENT';
      version = versionHolding(secret, stage);
      if (version === undefined) {
        throw notFound(`Secrets Manager can't find the specified secret value for staging label: ${stage}`);
      }
    }
    this.touch(secret);
    return secretValueEntry(secret, version);
  }

  private listable(filters: readonly Filter[] | undefined, includeDeleted: boolean, order: 'asc' | 'desc'): Secret[] {
    const all = [...this.secrets.values()]
      .filter((s) => includeDeleted || s.deletedMs === undefined)
      .filter((s) => filters === undefined || matchesFilters(s, filters, this.region))
      .sort((a, b) => a.createdMs - b.createdMs || a.name.localeCompare(b.name));
    return order === 'desc' ? all.reverse() : all;
  }

  private batchGetSecretValue(input: Json): Json {
    const ids = optionalStringList(input, 'SecretIdList');
    const filters = optionalFilters(input);
    const maxResults = optionalNumber(input, 'MaxResults');
    const nextToken = optionalString(input, 'NextToken');
    if ((ids === undefined) === (filters === undefined)) {
      throw invalidParameter('You must include Filters or SecretIdList, but not both.');
    }
    const values: Json[] = [];
    const errors: Json[] = [];
    if (ids !== undefined) {
      if (ids.length < 1 || ids.length > 20) throw invalidParameter('SecretIdList must hold 1 to 20 secret IDs.');
      if (maxResults !== undefined || nextToken !== undefined) {
        throw invalidParameter('MaxResults and NextToken can only be used with Filters.');
      }
      for (const id of ids) {
        const secret = this.find(id);
        const current = secret === undefined ? undefined : versionHolding(secret, 'AWSCURRENT');
        if (secret === undefined) {
          errors.push({ SecretId: id, ErrorCode: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret." });
        } else if (secret.deletedMs !== undefined) {
          errors.push({ SecretId: id, ErrorCode: 'InvalidRequestException', Message: "You can't perform this operation on the secret because it was marked for deletion." });
        } else if (current === undefined) {
          errors.push({ SecretId: id, ErrorCode: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" });
        } else {
          this.touch(secret);
          values.push(secretValueEntry(secret, current));
        }
      }
      return { SecretValues: values, Errors: errors };
    }
    const limit = maxResults ?? 20;
    if (limit < 1 || limit > 20) throw invalidParameter('MaxResults must be between 1 and 20.');
    const offset = decodeNextToken(nextToken);
    const matching = this.listable(filters, false, 'asc');
    for (const secret of matching.slice(offset, offset + limit)) {
      const current = versionHolding(secret, 'AWSCURRENT');
      if (current === undefined) {
        errors.push({ SecretId: secret.arn, ErrorCode: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" });
      } else {
        this.touch(secret);
        values.push(secretValueEntry(secret, current));
      }
    }
    const output: Json = { SecretValues: values, Errors: errors };
    if (offset + limit < matching.length) output['NextToken'] = encodeNextToken(offset + limit);
    return output;
  }

  private listSecrets(input: Json): Json {
    const filters = optionalFilters(input);
    const includeDeleted = optionalBoolean(input, 'IncludePlannedDeletion') ?? false;
    const limit = optionalNumber(input, 'MaxResults') ?? 100;
    if (limit < 1 || limit > 100) throw invalidParameter('MaxResults must be between 1 and 100.');
    const sortOrder = optionalString(input, 'SortOrder') ?? 'asc';
    if (sortOrder !== 'asc' && sortOrder !== 'desc') throw invalidParameter('SortOrder must be asc or desc.');
    const offset = decodeNextToken(optionalString(input, 'NextToken'));
    const matching = this.listable(filters, includeDeleted, sortOrder);
    const page = matching.slice(offset, offset + limit).map((secret) => ({
      ...secretMetadata(secret, this.region),
      SecretVersionsToStages: versionsToStages(secret),
    }));
    const output: Json = { SecretList: page };
    if (offset + limit < matching.length) output['NextToken'] = encodeNextToken(offset + limit);
    return output;
  }

  private describeSecret(input: Json): Json {
    const secret = this.resolve(input, { allowDeleted: true });
    return { ...secretMetadata(secret, this.region), VersionIdsToStages: versionsToStages(secret) };
  }

  private tagResource(input: Json): Json {
    const secret = this.resolve(input, { allowDeleted: false });
    const tags = optionalTags(input, 'Tags');
    if (tags === undefined) throw invalidParameter('You must specify Tags.');
    const merged = new Map(secret.tags);
    for (const tag of tags) merged.set(tag.key, tag.value);
    if (merged.size > 50) throw invalidParameter('A secret can have at most 50 tags.');
    secret.tags = merged;
    secret.lastChangedMs = this.now();
    return {};
  }

  private updateSecretVersionStage(input: Json): Json {
    const secret = this.resolve(input, { allowDeleted: false });
    const stage = requiredString(input, 'VersionStage');
    const removeFromId = optionalString(input, 'RemoveFromVersionId');
    const moveToId = optionalString(input, 'MoveToVersionId');
    const versionOrThrow = (id: string): SecretVersion => {
      const version = secret.versions.get(id);
      if (version === undefined) throw notFound(`Secrets Manager can't find the specified secret version: ${id}`);
      return version;
    };
    const removeFrom = removeFromId === undefined ? undefined : versionOrThrow(removeFromId);
    const moveTo = moveToId === undefined ? undefined : versionOrThrow(moveToId);
    const holder = versionHolding(secret, stage);
    if (removeFrom !== undefined && removeFrom !== holder) {
      throw invalidParameter(`The staging label ${stage} is not attached to version ${removeFromId ?? ''}.`);
    }
    if (moveTo !== undefined) {
      if (holder !== undefined && holder !== moveTo && removeFrom === undefined) {
        throw invalidParameter(
          `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
        );
      }
      moveStage(secret, stage, moveTo);
    } else if (removeFrom !== undefined) {
      if (stage === 'AWSCURRENT') {
        throw invalidParameter("You can't remove the staging label AWSCURRENT; move it to another version instead.");
      }
      removeFrom.stages.delete(stage);
    } else {
      throw invalidParameter('You must specify RemoveFromVersionId, MoveToVersionId, or both.');
    }
    secret.lastChangedMs = this.now();
    pruneDeprecated(secret);
    return { ARN: secret.arn, Name: secret.name };
  }

  private deleteSecret(input: Json): Json {
    const secret = this.resolve(input, { allowDeleted: true });
    const window = optionalNumber(input, 'RecoveryWindowInDays');
    const force = optionalBoolean(input, 'ForceDeleteWithoutRecovery') ?? false;
    if (force && window !== undefined) {
      throw invalidParameter(
        "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
      );
    }
    if (window !== undefined && (window < 7 || window > 30)) {
      throw invalidParameter('RecoveryWindowInDays value must be between 7 and 30 days (inclusive).');
    }
    const now = this.now();
    if (force) {
      this.secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: seconds(now) };
    }
    if (secret.deletedMs !== undefined) {
      throw new AwsError(
        'InvalidRequestException',
        "You can't delete this secret because it is already scheduled for deletion.",
      );
    }
    secret.deletedMs = now;
    secret.deletionDueMs = now + (window ?? 30) * 86_400_000;
    this.scheduled.add(secret);
    return { ARN: secret.arn, Name: secret.name, DeletionDate: seconds(secret.deletionDueMs) };
  }

  private restoreSecret(input: Json): Json {
    const secret = this.resolve(input, { allowDeleted: true });
    secret.deletedMs = undefined;
    secret.deletionDueMs = undefined;
    return { ARN: secret.arn, Name: secret.name };
  }
}
