/**
 * A small in-memory Secrets Manager that speaks the real JSON 1.1 wire protocol (POST /,
 * `X-Amz-Target: secretsmanager.<Operation>`, SigV4-signed), so that the real
 * `SecretsManagerClient` and our production adapter run unchanged against it. It implements the
 * operations certrotate uses, with the semantics that matter to it: version stages, idempotent
 * ClientRequestTokens, scheduled deletion, tag filters, pagination, the real error shapes.
 */
import { sigv4Signer } from '../aws/sigv4.js';
import { listenOnLoopback, parseAmzDate, readBody } from './endpoint-kit.js';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpRequest } from '@smithy/protocol-http';

export interface InjectedFault {
  /** The `__type` the client sees, e.g. `ThrottlingException`. */
  type: string;
  message: string;
  /** HTTP status; 400 unless told. */
  status?: number;
}

export interface LocalSecretsManagerOptions {
  port?: number;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /**
   * Called for every authenticated request before it runs; a returned fault is answered instead
   * (and the operation does not run). Tests use it to inject throttling for the next N calls.
   */
  faults?: (operation: string, input: unknown) => InjectedFault | undefined;
  /** Clock for created/changed dates and scheduled deletion, epoch ms. Defaults to the wall clock. */
  now?: () => number;
}

export interface LocalSecretsManager {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Requests per operation since start or the last reset, faulted ones included. */
  calls(): Record<string, number>;
  resetCalls(): void;
  stop(): Promise<void>;
}

const ACCOUNT_ID = '000000000000';
const SERVICE = 'secretsmanager';
const MAX_SECRET_BYTES = 65_536;
const MAX_BODY_BYTES = 1_048_576;
/** Secrets Manager keeps about 100 versions; unlabelled (deprecated) ones beyond are removed. */
const MAX_VERSIONS = 100;
/** How far the signing time may be from the server's clock, as AWS allows. */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const NAME_PATTERN = /^[A-Za-z0-9/_+=.@-]+$/;
const ARN_SUFFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** An error answered in the service's own shape. */
class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const invalidParameter = (message: string): ServiceError =>
  new ServiceError('InvalidParameterException', message);
const notFound = (message = "Secrets Manager can't find the specified secret."): ServiceError =>
  new ServiceError('ResourceNotFoundException', message);
const markedForDeletion = (): ServiceError =>
  new ServiceError(
    'InvalidRequestException',
    "You can't perform this operation on the secret because it was marked for deletion.",
  );

interface SecretVersion {
  id: string;
  secretString: string | undefined;
  /** Base64, as on the wire. */
  secretBinary: string | undefined;
  stages: Set<string>;
  createdMs: number;
}

interface Secret {
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

type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Input readers: the wire is untyped JSON, so every field is checked before use.

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(input: Json, key: string): string | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw new ServiceError('SerializationException', `${key} must be a string.`);
  }
  return value;
}

function requiredString(input: Json, key: string): string {
  const value = optionalString(input, key);
  if (value === undefined || value === '') {
    throw invalidParameter(`You must specify ${key}.`);
  }
  return value;
}

function optionalNumber(input: Json, key: string): number | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ServiceError('SerializationException', `${key} must be an integer.`);
  }
  return value;
}

function optionalBoolean(input: Json, key: string): boolean | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') {
    throw new ServiceError('SerializationException', `${key} must be a boolean.`);
  }
  return value;
}

function optionalStringList(input: Json, key: string): string[] | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new ServiceError('SerializationException', `${key} must be a list of strings.`);
  }
  return value.filter((item): item is string => typeof item === 'string');
}

function optionalTags(input: Json, key: string): Array<{ key: string; value: string }> | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    throw new ServiceError('SerializationException', `${key} must be a list of tags.`);
  }
  return value.map((tag) => {
    if (!isRecord(tag)) throw new ServiceError('SerializationException', 'A tag must be an object.');
    const tagKey = optionalString(tag, 'Key') ?? '';
    const tagValue = optionalString(tag, 'Value') ?? '';
    if (tagKey.length < 1 || tagKey.length > 128) {
      throw invalidParameter('A tag key must be 1 to 128 characters long.');
    }
    if (tagValue.length > 256) throw invalidParameter('A tag value must be at most 256 characters.');
    if (tagKey.toLowerCase().startsWith('aws:')) {
      throw invalidParameter('Tag keys beginning with aws: are reserved for AWS use.');
    }
    return { key: tagKey, value: tagValue };
  });
}

interface Filter {
  key: string;
  values: string[];
}

const FILTER_KEYS = new Set(['description', 'name', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all']);
const FILTER_VALUE_PATTERN = /^!?[a-zA-Z0-9 :_@/+=.\-!]*$/;

function optionalFilters(input: Json): Filter[] | undefined {
  const value = input['Filters'];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new ServiceError('SerializationException', 'Filters must be a list.');
  return value.map((filter) => {
    if (!isRecord(filter)) throw new ServiceError('SerializationException', 'A filter must be an object.');
    const key = optionalString(filter, 'Key') ?? '';
    if (!FILTER_KEYS.has(key)) throw invalidParameter(`Invalid filter key: ${key}.`);
    const values = optionalStringList(filter, 'Values') ?? [];
    if (values.length < 1 || values.length > 10) {
      throw invalidParameter('A filter must have 1 to 10 values.');
    }
    for (const v of values) {
      if (v.length > 512 || !FILTER_VALUE_PATTERN.test(v)) {
        throw invalidParameter(`Invalid filter value: ${v}.`);
      }
    }
    return { key, values };
  });
}

function checkToken(token: string | undefined): void {
  if (token !== undefined && (token.length < 32 || token.length > 64)) {
    throw invalidParameter('ClientRequestToken must be 32 to 64 characters long.');
  }
}

/** Reads SecretString/SecretBinary; `required` makes "neither" an error. */
function readSecretValue(
  input: Json,
  required: boolean,
): { secretString: string | undefined; secretBinary: string | undefined } {
  const secretString = optionalString(input, 'SecretString');
  const secretBinary = optionalString(input, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined) {
    throw invalidParameter(
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (required && secretString === undefined && secretBinary === undefined) {
    throw invalidParameter('You must provide either SecretString or SecretBinary.');
  }
  if (secretString !== undefined && Buffer.byteLength(secretString, 'utf8') > MAX_SECRET_BYTES) {
    throw invalidParameter(`SecretString must be at most ${MAX_SECRET_BYTES} bytes.`);
  }
  if (secretBinary !== undefined && Buffer.from(secretBinary, 'base64').length > MAX_SECRET_BYTES) {
    throw invalidParameter(`SecretBinary must be at most ${MAX_SECRET_BYTES} bytes.`);
  }
  return { secretString, secretBinary };
}

function decodeNextToken(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isRecord(parsed) && typeof parsed['offset'] === 'number' && Number.isInteger(parsed['offset']) && parsed['offset'] >= 0) {
      return parsed['offset'];
    }
  } catch {
    // answered below
  }
  throw new ServiceError('InvalidNextTokenException', 'The NextToken value is invalid.');
}

function encodeNextToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64url');
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
function matchesFilters(secret: Secret, filters: readonly Filter[], region: string): boolean {
  return filters.every((filter) => {
    const positive = filter.values.filter((v) => !v.startsWith('!'));
    const negative = filter.values.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
    const anyPositive = positive.length === 0 || positive.some((v) => filterMatchesValue(secret, filter.key, v, region));
    const anyNegative = negative.some((v) => filterMatchesValue(secret, filter.key, v, region));
    return anyPositive && !anyNegative;
  });
}

const seconds = (ms: number): number => ms / 1000;

// ---------------------------------------------------------------------------------------------
// The service itself: one method per operation, all synchronous, so each runs atomically.

class SecretsManagerBackend {
  private readonly secrets = new Map<string, Secret>();
  /** Secrets scheduled for deletion, so purging need not look at every secret on every request. */
  private readonly scheduled = new Set<Secret>();

  constructor(
    private readonly region: string,
    private readonly now: () => number,
  ) {}

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

  run(operation: string, input: Json): Json {
    switch (operation) {
      case 'CreateSecret':
        return this.createSecret(input);
      case 'PutSecretValue':
        return this.putSecretValue(input);
      case 'GetSecretValue':
        return this.getSecretValue(input);
      case 'BatchGetSecretValue':
        return this.batchGetSecretValue(input);
      case 'ListSecrets':
        return this.listSecrets(input);
      case 'DescribeSecret':
        return this.describeSecret(input);
      case 'TagResource':
        return this.tagResource(input);
      case 'UpdateSecretVersionStage':
        return this.updateSecretVersionStage(input);
      case 'DeleteSecret':
        return this.deleteSecret(input);
      case 'RestoreSecret':
        return this.restoreSecret(input);
      default:
        throw new ServiceError('UnknownOperationException', `Unknown operation ${operation}.`);
    }
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

  private versionHolding(secret: Secret, stage: string): SecretVersion | undefined {
    for (const version of secret.versions.values()) if (version.stages.has(stage)) return version;
    return undefined;
  }

  private moveStage(secret: Secret, stage: string, to: SecretVersion): void {
    const from = this.versionHolding(secret, stage);
    if (from === to) return;
    from?.stages.delete(stage);
    to.stages.add(stage);
    if (stage === 'AWSCURRENT' && from !== undefined) this.moveStage(secret, 'AWSPREVIOUS', from);
  }

  private pruneDeprecated(secret: Secret): void {
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
  private existingVersionForToken(
    secret: Secret,
    token: string | undefined,
    value: { secretString: string | undefined; secretBinary: string | undefined },
  ): SecretVersion | undefined {
    if (token === undefined) return undefined;
    const existing = secret.versions.get(token);
    if (existing === undefined) return undefined;
    if (existing.secretString === value.secretString && existing.secretBinary === value.secretBinary) {
      return existing;
    }
    throw new ServiceError(
      'ResourceExistsException',
      "You can't modify an existing version, you can only create a new version.",
    );
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
        throw new ServiceError(
          'InvalidRequestException',
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
        );
      }
      const repeated = this.existingVersionForToken(existing, token, value);
      if (repeated !== undefined) {
        return { ARN: existing.arn, Name: existing.name, VersionId: repeated.id };
      }
      throw new ServiceError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
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
    const repeated = this.existingVersionForToken(secret, token, value);
    if (repeated !== undefined) {
      return { ARN: secret.arn, Name: secret.name, VersionId: repeated.id, VersionStages: [...repeated.stages] };
    }
    const now = this.now();
    const version: SecretVersion = { id: token ?? randomUUID(), ...value, stages: new Set(), createdMs: now };
    secret.versions.set(version.id, version);
    for (const stage of stages) this.moveStage(secret, stage, version);
    secret.lastChangedMs = now;
    this.pruneDeprecated(secret);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  private secretValueEntry(secret: Secret, version: SecretVersion): Json {
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
      version = this.versionHolding(secret, stage);
      if (version === undefined) {
        throw notFound(`Secrets Manager can't find the specified secret value for staging label: ${stage}`);
      }
    }
    this.touch(secret);
    return this.secretValueEntry(secret, version);
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
        const current = secret === undefined ? undefined : this.versionHolding(secret, 'AWSCURRENT');
        if (secret === undefined) {
          errors.push({ SecretId: id, ErrorCode: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret." });
        } else if (secret.deletedMs !== undefined) {
          errors.push({ SecretId: id, ErrorCode: 'InvalidRequestException', Message: "You can't perform this operation on the secret because it was marked for deletion." });
        } else if (current === undefined) {
          errors.push({ SecretId: id, ErrorCode: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" });
        } else {
          this.touch(secret);
          values.push(this.secretValueEntry(secret, current));
        }
      }
      return { SecretValues: values, Errors: errors };
    }
    const limit = maxResults ?? 20;
    if (limit < 1 || limit > 20) throw invalidParameter('MaxResults must be between 1 and 20.');
    const offset = decodeNextToken(nextToken);
    const matching = this.listable(filters, false, 'asc');
    for (const secret of matching.slice(offset, offset + limit)) {
      const current = this.versionHolding(secret, 'AWSCURRENT');
      if (current === undefined) {
        errors.push({ SecretId: secret.arn, ErrorCode: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" });
      } else {
        this.touch(secret);
        values.push(this.secretValueEntry(secret, current));
      }
    }
    const output: Json = { SecretValues: values, Errors: errors };
    if (offset + limit < matching.length) output['NextToken'] = encodeNextToken(offset + limit);
    return output;
  }

  private tagList(secret: Secret): Json[] {
    return [...secret.tags].map(([Key, Value]) => ({ Key, Value }));
  }

  private versionsToStages(secret: Secret): Record<string, string[]> {
    const result: Record<string, string[]> = {};
    for (const version of secret.versions.values()) {
      if (version.stages.size > 0) result[version.id] = [...version.stages];
    }
    return result;
  }

  private metadata(secret: Secret): Json {
    const entry: Json = {
      ARN: secret.arn,
      Name: secret.name,
      RotationEnabled: false,
      LastChangedDate: seconds(secret.lastChangedMs),
      CreatedDate: seconds(secret.createdMs),
      PrimaryRegion: this.region,
    };
    if (secret.description !== undefined) entry['Description'] = secret.description;
    if (secret.kmsKeyId !== undefined) entry['KmsKeyId'] = secret.kmsKeyId;
    if (secret.lastAccessedMs !== undefined) entry['LastAccessedDate'] = seconds(secret.lastAccessedMs);
    if (secret.deletedMs !== undefined) entry['DeletedDate'] = seconds(secret.deletedMs);
    if (secret.tags.size > 0) entry['Tags'] = this.tagList(secret);
    return entry;
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
      ...this.metadata(secret),
      SecretVersionsToStages: this.versionsToStages(secret),
    }));
    const output: Json = { SecretList: page };
    if (offset + limit < matching.length) output['NextToken'] = encodeNextToken(offset + limit);
    return output;
  }

  private describeSecret(input: Json): Json {
    const secret = this.resolve(input, { allowDeleted: true });
    return { ...this.metadata(secret), VersionIdsToStages: this.versionsToStages(secret) };
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
    const holder = this.versionHolding(secret, stage);
    if (removeFrom !== undefined && removeFrom !== holder) {
      throw invalidParameter(`The staging label ${stage} is not attached to version ${removeFromId ?? ''}.`);
    }
    if (moveTo !== undefined) {
      if (holder !== undefined && holder !== moveTo && removeFrom === undefined) {
        throw invalidParameter(
          `The parameter RemoveFromVersionId can't be empty. Staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`,
        );
      }
      this.moveStage(secret, stage, moveTo);
    } else if (removeFrom !== undefined) {
      if (stage === 'AWSCURRENT') {
        throw invalidParameter("You can't remove the staging label AWSCURRENT; move it to another version instead.");
      }
      removeFrom.stages.delete(stage);
    } else {
      throw invalidParameter('You must specify RemoveFromVersionId, MoveToVersionId, or both.');
    }
    secret.lastChangedMs = this.now();
    this.pruneDeprecated(secret);
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
      throw new ServiceError(
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

// ---------------------------------------------------------------------------------------------
// SigV4 verification: recompute the signature with the known secret key and compare.

interface ParsedAuthorization {
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function parseAuthorization(header: string): ParsedAuthorization | undefined {
  const match = /^AWS4-HMAC-SHA256 (.*)$/.exec(header.trim());
  if (match?.[1] === undefined) return undefined;
  const parts = new Map<string, string>();
  for (const part of match[1].split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) parts.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = parts.get('Credential')?.split('/');
  const signedHeaders = parts.get('SignedHeaders');
  const signature = parts.get('Signature');
  if (credential?.length !== 5 || signedHeaders === undefined || signature === undefined) return undefined;
  const [accessKeyId, shortDate, region, service, terminator] = credential;
  if (accessKeyId === undefined || shortDate === undefined || region === undefined || service === undefined || terminator !== 'aws4_request') {
    return undefined;
  }
  return { accessKeyId, shortDate, region, service, signedHeaders: signedHeaders.split(';'), signature };
}


/** The signer escapes the path itself, so it gets the decoded form. */
function decodePath(pathname: string): string {
  try {
    return pathname.split('/').map((segment) => decodeURIComponent(segment)).join('/');
  } catch {
    throw new ServiceError('InvalidSignatureException', 'The request path is not validly percent-encoded.', 403);
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

async function verifySignature(
  req: IncomingMessage,
  body: Buffer,
  credentials: { accessKeyId: string; secretAccessKey: string },
  region: string,
  nowMs: number,
): Promise<void> {
  const authorization = headerValue(req, 'authorization');
  if (authorization === undefined) {
    throw new ServiceError('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
  }
  const auth = parseAuthorization(authorization);
  if (auth === undefined) {
    throw new ServiceError(
      'IncompleteSignatureException',
      `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${authorization.split(' ')[0] ?? ''}`,
      403,
    );
  }
  const amzDate = headerValue(req, 'x-amz-date');
  const signingMs = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (amzDate === undefined || signingMs === undefined) {
    throw new ServiceError('IncompleteSignatureException', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", 403);
  }
  if (!auth.signedHeaders.includes('host')) {
    throw new ServiceError('IncompleteSignatureException', "'Host' must be a 'SignedHeader' in the AWS Authorization.", 403);
  }
  if (auth.accessKeyId !== credentials.accessKeyId) {
    throw new ServiceError('UnrecognizedClientException', 'The security token included in the request is invalid.', 403);
  }
  if (auth.shortDate !== amzDate.slice(0, 8)) {
    throw new ServiceError('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.shortDate}' != '${amzDate.slice(0, 8)}'`, 403);
  }
  if (auth.region !== region) {
    throw new ServiceError('InvalidSignatureException', `Credential should be scoped to a valid region, not '${auth.region}'.`, 403);
  }
  if (auth.service !== SERVICE) {
    throw new ServiceError('InvalidSignatureException', `Credential should be scoped to correct service: '${SERVICE}'.`, 403);
  }
  if (Math.abs(nowMs - signingMs) > MAX_CLOCK_SKEW_MS) {
    throw new ServiceError('InvalidSignatureException', `Signature expired: ${amzDate} is outside the allowed skew of 5 min from the server time.`, 403);
  }
  const claimedHash = headerValue(req, 'x-amz-content-sha256');
  if (claimedHash !== undefined && claimedHash !== createHash('sha256').update(body).digest('hex')) {
    throw new ServiceError('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match the request body.', 403);
  }

  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const value = headerValue(req, name);
    if (value === undefined) {
      throw new ServiceError('IncompleteSignatureException', `Signed header ${name} is missing from the request.`, 403);
    }
    headers[name] = value;
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    query[key] = all.length === 1 && all[0] !== undefined ? all[0] : all;
  }
  const request = new HttpRequest({
    method: req.method ?? 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    path: decodePath(url.pathname),
    query,
    headers,
    body,
  });
  const sessionToken = headers['x-amz-security-token'];
  const signer = sigv4Signer(SERVICE, region, { ...credentials, ...(sessionToken === undefined ? {} : { sessionToken }) });
  const signed = await signer.sign(request, {
    signingDate: new Date(signingMs),
    signableHeaders: new Set(auth.signedHeaders),
  });
  const expected = parseAuthorization(String(signed.headers['authorization']))?.signature ?? '';
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(auth.signature, 'utf8');
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new ServiceError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      403,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing.


function send(res: ServerResponse, status: number, body: Json, errorType?: string): void {
  const payload = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/x-amz-json-1.1',
    'Content-Length': Buffer.byteLength(payload),
    'x-amzn-RequestId': randomUUID(),
  };
  if (errorType !== undefined) headers['x-amzn-ErrorType'] = errorType;
  res.writeHead(status, headers);
  res.end(payload);
}

function sendError(res: ServerResponse, error: ServiceError): void {
  send(res, error.status, { __type: error.type, message: error.message }, error.type);
}

export async function startLocalSecretsManager(
  options: LocalSecretsManagerOptions = {},
): Promise<LocalSecretsManager> {
  const region = options.region ?? 'us-east-1';
  const credentials = {
    accessKeyId: options.accessKeyId ?? 'AKIDLOCALSECRETS',
    secretAccessKey: options.secretAccessKey ?? 'local-secret-access-key',
  };
  const now = options.now ?? Date.now;
  const backend = new SecretsManagerBackend(region, now);
  let counts: Record<string, number> = {};

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, { maxBytes: MAX_BODY_BYTES, tooLarge: () => new ServiceError('SerializationException', 'Request body too large.', 413) });
    if (req.method !== 'POST') {
      throw new ServiceError('UnknownOperationException', 'Only POST / is supported.', 404);
    }
    await verifySignature(req, body, credentials, region, now());
    const target = headerValue(req, 'x-amz-target') ?? '';
    const prefix = 'secretsmanager.';
    if (!target.startsWith(prefix)) {
      throw new ServiceError('UnknownOperationException', `Unknown target: ${target}.`);
    }
    const operation = target.slice(prefix.length);
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      throw new ServiceError('SerializationException', 'The request body is not valid JSON.');
    }
    if (!isRecord(input)) throw new ServiceError('SerializationException', 'The request body must be a JSON object.');
    counts[operation] = (counts[operation] ?? 0) + 1;
    const fault = options.faults?.(operation, input);
    if (fault !== undefined) throw new ServiceError(fault.type, fault.message, fault.status ?? 400);
    backend.purgeExpired();
    send(res, 200, backend.run(operation, input));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof ServiceError) {
        sendError(res, error);
      } else {
        sendError(res, new ServiceError('InternalServiceError', 'An internal error occurred.', 500));
      }
    });
  });
  const port = await listenOnLoopback(server, options.port ?? 0);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    calls: () => ({ ...counts }),
    resetCalls: () => {
      counts = {};
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}
