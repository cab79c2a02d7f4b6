/**
 * The local KMS's state and operations: asymmetric SIGN_VERIFY keys (whose private halves never
 * leave this object), aliases, tags, disabling and scheduled deletion, with KMS's answers and
 * error types for what certrotate calls. Key ids may be given as id, key ARN, alias name or alias ARN.
 */
import { randomUUID } from 'node:crypto';
import { AwsError } from '../kit/aws-error.js';
import { isRecord, type Json } from '../kit/json-protocol.js';
import { generateKey, isKeySpec, publicKeyDer, signWithKey, signingAlgorithms } from './signing.js';
import { restoreKms, snapshotKms, type Alias, type KmsSnapshot, type LocalKey } from './snapshot.js';

export const LOCAL_ACCOUNT = '000000000000';
const DAY_MS = 86_400_000;

const notFound = (message: string): AwsError => new AwsError('NotFoundException', message);
const validation = (message: string): AwsError => new AwsError('ValidationException', message);

function string(input: Json, key: string, required: true): string;
function string(input: Json, key: string, required?: false): string | undefined;
function string(input: Json, key: string, required = false): string | undefined {
  const value = input[key];
  if (value === undefined || value === null) {
    if (required) throw validation(`1 validation error detected: Value null at '${key}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }
  if (typeof value !== 'string') throw new AwsError('SerializationException', `${key} must be a string.`);
  return value;
}

function tagsOf(input: Json): Array<[string, string]> {
  const value = input['Tags'];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new AwsError('SerializationException', 'Tags must be a list.');
  return value.map((tag) => {
    if (!isRecord(tag) || typeof tag['TagKey'] !== 'string' || typeof tag['TagValue'] !== 'string') {
      throw new AwsError('SerializationException', 'A tag must have TagKey and TagValue strings.');
    }
    return [tag['TagKey'], tag['TagValue']];
  });
}

function blob(input: Json, key: string): Buffer {
  const value = string(input, key, true);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new AwsError('SerializationException', `${key} must be base64.`);
  return Buffer.from(value, 'base64');
}

/** Pages of a list: `Marker` is the offset, as an opaque string. */
function page<T>(items: T[], input: Json): { items: T[]; Truncated: boolean; NextMarker?: string } {
  const limit = typeof input['Limit'] === 'number' ? Math.min(Math.max(1, input['Limit']), 1000) : 100;
  const marker = string(input, 'Marker');
  const start = marker === undefined ? 0 : Number(Buffer.from(marker, 'base64').toString('utf8'));
  if (!Number.isSafeInteger(start) || start < 0) throw new AwsError('InvalidMarkerException', 'The marker is invalid.');
  const slice = items.slice(start, start + limit);
  const next = start + limit;
  return next < items.length ? { items: slice, Truncated: true, NextMarker: Buffer.from(String(next)).toString('base64') } : { items: slice, Truncated: false };
}

export class KmsBackend {
  readonly #keys = new Map<string, LocalKey>();
  readonly #aliases = new Map<string, Alias>();

  constructor(
    readonly region: string,
    private readonly now: () => number,
  ) {}

  /** Every key (private halves included) and alias, for the sandbox's restart (see snapshot.ts). */
  snapshot(): KmsSnapshot {
    return snapshotKms([...this.#keys.values()], [...this.#aliases.values()]);
  }

  /** Puts back keys and aliases from a snapshot (before any request: a restarted sandbox). */
  restore(snapshot: KmsSnapshot): void {
    const { keys, aliases } = restoreKms(snapshot);
    for (const key of keys) this.#keys.set(key.id, key);
    for (const alias of aliases) this.#aliases.set(alias.name, alias);
  }

  run(operation: string, input: Json): Json {
    switch (operation) {
      case 'CreateKey': return this.createKey(input);
      case 'DescribeKey': return { KeyMetadata: this.metadata(this.key(input)) };
      case 'GetPublicKey': return this.getPublicKey(input);
      case 'Sign': return this.sign(input);
      case 'CreateAlias': return this.createAlias(input);
      case 'DeleteAlias': return this.deleteAlias(input);
      case 'ListAliases': return this.listAliases(input);
      case 'ListKeys': return this.listKeys(input);
      case 'ListResourceTags': return this.listResourceTags(input);
      case 'TagResource': return this.tagResource(input);
      case 'GetKeyPolicy': return { Policy: this.key(input).policy, PolicyName: 'default' };
      case 'DisableKey': return this.setState(input, 'Disabled');
      case 'EnableKey': return this.setState(input, 'Enabled');
      case 'ScheduleKeyDeletion': return this.scheduleDeletion(input);
      default:
        throw new AwsError('UnknownOperationException', `Operation ${operation} is not supported by the local KMS.`);
    }
  }

  /** Keys whose deletion date has passed are gone, as in KMS. */
  purgeExpired(): void {
    const now = this.now();
    for (const [id, key] of this.#keys) {
      if (key.deletionDate === undefined || key.deletionDate > now) continue;
      this.#keys.delete(id);
      for (const [name, alias] of this.#aliases) if (alias.targetKeyId === id) this.#aliases.delete(name);
    }
  }

  private createKey(input: Json): Json {
    const spec = string(input, 'KeySpec') ?? 'SYMMETRIC_DEFAULT';
    const usage = string(input, 'KeyUsage') ?? 'ENCRYPT_DECRYPT';
    if (!isKeySpec(spec) || usage !== 'SIGN_VERIFY') {
      throw validation(`The local KMS makes only asymmetric SIGN_VERIFY keys (ECC_NIST_P256/P384, RSA_2048/3072/4096), not ${spec} for ${usage}.`);
    }
    const id = randomUUID();
    const key: LocalKey = {
      id,
      arn: `arn:aws:kms:${this.region}:${LOCAL_ACCOUNT}:key/${id}`,
      spec,
      description: string(input, 'Description') ?? '',
      policy: string(input, 'Policy') ?? JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${LOCAL_ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] }),
      createdAt: this.now(),
      state: 'Enabled',
      tags: new Map(tagsOf(input)),
      privateKey: generateKey(spec),
    };
    this.#keys.set(id, key);
    return { KeyMetadata: this.metadata(key) };
  }

  /** The key a KeyId names: key id, key ARN, alias name or alias ARN. */
  private key(input: Json): LocalKey {
    const keyId = string(input, 'KeyId', true);
    const aliasName = keyId.startsWith('alias/') ? keyId : /^arn:aws:kms:[^:]+:\d{12}:(alias\/.+)$/.exec(keyId)?.[1];
    let id = keyId.startsWith('arn:') ? keyId.slice(keyId.lastIndexOf('key/') + 4) : keyId;
    if (aliasName !== undefined) {
      const alias = this.#aliases.get(aliasName);
      if (alias === undefined) throw notFound(`Alias arn:aws:kms:${this.region}:${LOCAL_ACCOUNT}:${aliasName} is not found.`);
      id = alias.targetKeyId;
    }
    const key = this.#keys.get(id);
    if (key === undefined) throw notFound(`Key 'arn:aws:kms:${this.region}:${LOCAL_ACCOUNT}:key/${id}' does not exist`);
    return key;
  }

  private metadata(key: LocalKey): Json {
    return {
      AWSAccountId: LOCAL_ACCOUNT,
      KeyId: key.id,
      Arn: key.arn,
      CreationDate: key.createdAt / 1000,
      Enabled: key.state === 'Enabled',
      Description: key.description,
      KeyUsage: 'SIGN_VERIFY',
      KeyState: key.state,
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: key.spec,
      KeySpec: key.spec,
      SigningAlgorithms: signingAlgorithms(key.spec),
      MultiRegion: false,
      ...(key.deletionDate === undefined ? {} : { DeletionDate: key.deletionDate / 1000, PendingDeletionWindowInDays: key.pendingWindowInDays }),
    };
  }

  /** Using a key that is not Enabled fails as in KMS: DisabledException, or KMSInvalidStateException. */
  private usable(key: LocalKey): LocalKey {
    if (key.state === 'Disabled') throw new AwsError('DisabledException', `${key.arn} is disabled.`);
    if (key.state === 'PendingDeletion') throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    return key;
  }

  private getPublicKey(input: Json): Json {
    const key = this.usable(this.key(input));
    return {
      KeyId: key.arn,
      PublicKey: publicKeyDer(key.privateKey).toString('base64'),
      CustomerMasterKeySpec: key.spec,
      KeySpec: key.spec,
      KeyUsage: 'SIGN_VERIFY',
      SigningAlgorithms: signingAlgorithms(key.spec),
    };
  }

  private sign(input: Json): Json {
    const key = this.usable(this.key(input));
    const algorithm = string(input, 'SigningAlgorithm', true);
    const messageType = string(input, 'MessageType') ?? 'RAW';
    if (messageType !== 'RAW' && messageType !== 'DIGEST') throw validation(`MessageType must be RAW or DIGEST, not ${messageType}.`);
    const message = blob(input, 'Message');
    if (message.length < 1 || message.length > 4096) throw validation('Message must be 1 to 4096 bytes.');
    const signature = signWithKey(key.privateKey, key.spec, algorithm, message, messageType);
    return { KeyId: key.arn, Signature: signature.toString('base64'), SigningAlgorithm: algorithm };
  }

  private createAlias(input: Json): Json {
    const name = string(input, 'AliasName', true);
    if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(name) || name.startsWith('alias/aws/')) {
      throw validation(`Alias name ${name} must begin with alias/ (not alias/aws/) and hold only letters, digits, / _ -.`);
    }
    const key = this.key({ KeyId: string(input, 'TargetKeyId', true) });
    if (key.state === 'PendingDeletion') throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    if (this.#aliases.has(name)) throw new AwsError('AlreadyExistsException', `An alias with the name arn:aws:kms:${this.region}:${LOCAL_ACCOUNT}:${name} already exists`);
    this.#aliases.set(name, { name, targetKeyId: key.id, createdAt: this.now() });
    return {};
  }

  private deleteAlias(input: Json): Json {
    const name = string(input, 'AliasName', true);
    if (!this.#aliases.delete(name)) throw notFound(`Alias arn:aws:kms:${this.region}:${LOCAL_ACCOUNT}:${name} is not found.`);
    return {};
  }

  private listAliases(input: Json): Json {
    const keyId = string(input, 'KeyId');
    const target = keyId === undefined ? undefined : this.key({ KeyId: keyId }).id;
    const aliases = [...this.#aliases.values()]
      .filter((alias) => target === undefined || alias.targetKeyId === target)
      .map((alias) => ({ AliasName: alias.name, AliasArn: `arn:aws:kms:${this.region}:${LOCAL_ACCOUNT}:${alias.name}`, TargetKeyId: alias.targetKeyId, CreationDate: alias.createdAt / 1000 }));
    const { items, ...rest } = page(aliases, input);
    return { Aliases: items, ...rest };
  }

  private listKeys(input: Json): Json {
    const { items, ...rest } = page([...this.#keys.values()].map((key) => ({ KeyId: key.id, KeyArn: key.arn })), input);
    return { Keys: items, ...rest };
  }

  private listResourceTags(input: Json): Json {
    const key = this.key(input);
    const { items, ...rest } = page([...key.tags].map(([TagKey, TagValue]) => ({ TagKey, TagValue })), input);
    return { Tags: items, ...rest };
  }

  private tagResource(input: Json): Json {
    const key = this.key(input);
    if (key.state === 'PendingDeletion') throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    for (const [k, v] of tagsOf(input)) key.tags.set(k, v);
    return {};
  }

  private setState(input: Json, state: 'Enabled' | 'Disabled'): Json {
    const key = this.key(input);
    if (key.state === 'PendingDeletion') throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    key.state = state;
    return {};
  }

  private scheduleDeletion(input: Json): Json {
    const key = this.key(input);
    const days = typeof input['PendingWindowInDays'] === 'number' ? input['PendingWindowInDays'] : 30;
    if (!Number.isInteger(days) || days < 7 || days > 30) throw validation('PendingWindowInDays must be between 7 and 30.');
    if (key.state === 'PendingDeletion') throw new AwsError('KMSInvalidStateException', `${key.arn} is pending deletion.`);
    key.state = 'PendingDeletion';
    key.deletionDate = this.now() + days * DAY_MS;
    key.pendingWindowInDays = days;
    return { KeyId: key.arn, DeletionDate: key.deletionDate / 1000, KeyState: 'PendingDeletion', PendingWindowInDays: days };
  }
}
