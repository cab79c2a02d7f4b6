/**
 * CertificateStore on AWS Secrets Manager.
 *
 * Layout (all JSON text secrets, tagged so they can be listed per authority):
 * - `<prefix>/<authority>/ca/<generation>`: `{"ca.crt", "ca.key"}`, one per CA generation; for a key
 *   kept in KMS `{"ca.crt", "ca.keyArn"}` (the key's ARN: no private key in the secret)
 * - `<prefix>/<authority>/bundle`: `{"ca.crt"}`, the trust bundle
 * - `<prefix>/<authority>/leaf/<id>`: `{"tls.crt", "tls.key", "ca.crt"}`, one per leaf
 *
 * Every write carries a deterministic ClientRequestToken derived from the secret name, the
 * content and the version currently AWSCURRENT: a retried write is a no-op, while content that
 * recurs later (a bundle [1] -> [1,2] -> [1] after a rollback) still becomes a new current version.
 */
import { createHash } from 'node:crypto';
import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import type { SecretsManagerClient, Tag } from '@aws-sdk/client-secrets-manager';
import { NotFoundError, StoredDataError, ValidationError } from '../errors.js';
import type { CertificateStore, StoredCa, StoredLeaf, UnreadableSecret } from '../ports.js';
import { LEAF_KEYS, inIdOrder, leafJson, parseStoredJson } from './stored-json.js';
import { secretsManagerReadLimiters, type SecretsManagerReadLimiters } from './read-limiters.js';
import type { WriteLimiter } from './write-limiter.js';

export interface SecretsManagerStoreOptions {
  /**
   * Reads, with one attempt per call (AwsClients.secretsManager): readLimiters retry them inside
   * each read quota.
   */
  client: SecretsManagerClient;
  /**
   * Writes, with one attempt per call (AwsClients.secretsManagerWrites): writeLimiter retries them
   * inside the shared write rate, which the SDK's own retries would exceed unmetered.
   */
  writeClient?: SecretsManagerClient;
  /** First segment of every secret name. Default `certrotate`. */
  prefix?: string;
  /** KMS key for new secrets; the account's `aws/secretsmanager` key when absent. */
  kmsKeyId?: string;
  writeLimiter: WriteLimiter;
  /** The pace of reads, one limiter per read quota; default AWS's quotas (secretsManagerReadLimiters()). */
  readLimiters?: SecretsManagerReadLimiters;
  /** Epoch ms, for how fresh a listing of CA secrets is; default Date.now. */
  now?: () => number;
}

/**
 * How long a listing of an authority's CA secrets vouches for their current versions. A tick lists
 * them and then reads them within seconds; ListSecrets is itself eventually consistent.
 */
const CA_LISTING_FRESH_MS = 60_000;

export const TAG_AUTHORITY = 'certrotate:authority';
export const TAG_KIND = 'certrotate:kind';
export const TAG_GENERATION = 'certrotate:generation';
export const TAG_LEAF = 'certrotate:leaf';

/** BatchGetSecretValue takes at most 20 secret ids per call. */
const BATCH_SIZE = 20;
/** Batches a readLeaves call keeps in flight; their pace is readLimiters.batchGet's. */
const BATCH_CONCURRENCY = 4;
/** Authority and leaf ids become one segment of a secret name. */
export const SEGMENT_PATTERN = /^[A-Za-z0-9_+=.@-]{1,128}$/;

type Kind = 'ca' | 'bundle' | 'leaf';

/** The current value of a secret, or `undefined` when it has none. */
interface CurrentValue {
  versionId: string;
  secretString: string | undefined;
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export function checkSegment(what: string, value: string): void {
  if (!SEGMENT_PATTERN.test(value)) {
    throw new ValidationError(
      `${what} "${value}" must be 1 to 128 characters of letters, digits and _+=.@- (it becomes part of a secret name)`,
    );
  }
}

function checkGeneration(generation: number): void {
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new ValidationError(`CA generation must be a positive integer, got ${generation}`);
  }
}

/** SHA-256 hex (64 characters, within the 32-64 the API takes) of name, content and base version. */
export function clientRequestToken(name: string, content: string, currentVersionId: string | undefined): string {
  return createHash('sha256')
    .update(JSON.stringify([name, content, currentVersionId ?? 'none']))
    .digest('hex');
}

/** A KMS key ARN, as a CA secret of the `kms` key store holds it. */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

/** A CA secret: the certificate, and the PEM key or the KMS key's ARN. */
function caSecretContent(ca: StoredCa): string {
  if (ca.keyArn !== undefined) return JSON.stringify({ 'ca.crt': ca.certificatePem, 'ca.keyArn': ca.keyArn });
  if (ca.privateKeyPem === undefined) throw new ValidationError(`CA generation ${ca.generation} of authority ${ca.authority} has neither a key nor a KMS key ARN`);
  return JSON.stringify({ 'ca.crt': ca.certificatePem, 'ca.key': ca.privateKeyPem });
}

export class SecretsManagerCertificateStore implements CertificateStore {
  private readonly client: SecretsManagerClient;
  private readonly writeClient: SecretsManagerClient;
  private readonly prefix: string;
  private readonly kmsKeyId: string | undefined;
  private readonly limiter: WriteLimiter;
  private readonly readLimiters: SecretsManagerReadLimiters;
  private readonly now: () => number;
  /**
   * CA secrets as last read, by name and version. A CA secret is written once, so every tick read
   * the same values again (one GetSecretValue per live CA per tick, most of a quiet tick's reads):
   * a value is reused when a fresh listing (listCaGenerations) shows the version it was read at
   * still current. Holds only secrets the latest listing of their authority named.
   */
  private readonly caValues = new Map<string, { versionId: string; ca: StoredCa }>();
  /** The current version of each CA secret in the latest listing of its authority, and when it was listed. */
  private readonly listedCaVersions = new Map<string, { versionId: string | undefined; listedAt: number }>();

  constructor(options: SecretsManagerStoreOptions) {
    this.client = options.client;
    this.writeClient = options.writeClient ?? options.client;
    this.prefix = options.prefix ?? 'certrotate';
    if (!/^[A-Za-z0-9/_+=.@-]+$/.test(this.prefix) || this.prefix.startsWith('/') || this.prefix.endsWith('/')) {
      throw new ValidationError(`secret name prefix "${this.prefix}" must be letters, digits and /_+=.@-, not starting or ending with /`);
    }
    this.kmsKeyId = options.kmsKeyId;
    this.limiter = options.writeLimiter;
    this.readLimiters = options.readLimiters ?? secretsManagerReadLimiters();
    this.now = options.now ?? Date.now;
  }

  caSecretName(authority: string, generation: number): string {
    return `${this.prefix}/${authority}/ca/${generation}`;
  }

  bundleSecretName(authority: string): string {
    return `${this.prefix}/${authority}/bundle`;
  }

  leafSecretName(authority: string, id: string): string {
    return `${this.prefix}/${authority}/leaf/${id}`;
  }

  // -- CertificateStore ------------------------------------------------------------------------

  async listCaGenerations(authority: string): Promise<number[]> {
    checkSegment('authority', authority);
    const generations = new Set<number>();
    const namePrefix = `${this.prefix}/${authority}/ca/`;
    const listed = await this.listTagged(authority, 'ca', namePrefix);
    this.recordCaListing(namePrefix, listed);
    for (const { name, tags } of listed) {
      const generation = Number(name.slice(namePrefix.length));
      if (Number.isSafeInteger(generation) && generation >= 1 && tags.get(TAG_GENERATION) === String(generation)) {
        generations.add(generation);
      }
    }
    return [...generations].sort((a, b) => a - b);
  }

  async readCa(authority: string, generation: number): Promise<StoredCa | undefined> {
    checkSegment('authority', authority);
    checkGeneration(generation);
    const name = this.caSecretName(authority, generation);
    const listed = this.listedCaVersions.get(name);
    const kept = this.caValues.get(name);
    const age = listed === undefined ? Number.NaN : this.now() - listed.listedAt;
    // A clock set back makes the age negative: such a listing vouches for nothing either.
    if (kept !== undefined && kept.versionId === listed?.versionId && age >= 0 && age < CA_LISTING_FRESH_MS) {
      return { ...kept.ca };
    }
    const current = await this.readCurrent(name);
    if (current === undefined) return undefined;
    const ca = this.parseCa(name, authority, generation, current.secretString);
    if (listed !== undefined) this.caValues.set(name, { versionId: current.versionId, ca: { ...ca } });
    return ca;
  }

  /** The listing replaces what was known of the authority's CA secrets: a secret no longer listed is forgotten. */
  private recordCaListing(namePrefix: string, listed: ReadonlyArray<{ name: string; currentVersion: string | undefined }>): void {
    const listedAt = this.now();
    for (const known of [...this.listedCaVersions.keys()]) {
      if (known.startsWith(namePrefix)) this.listedCaVersions.delete(known);
    }
    for (const { name, currentVersion } of listed) this.listedCaVersions.set(name, { versionId: currentVersion, listedAt });
    for (const known of [...this.caValues.keys()]) {
      if (known.startsWith(namePrefix) && !this.listedCaVersions.has(known)) this.caValues.delete(known);
    }
  }

  async createCa(ca: StoredCa): Promise<StoredCa> {
    checkSegment('authority', ca.authority);
    checkGeneration(ca.generation);
    const name = this.caSecretName(ca.authority, ca.generation);
    const content = caSecretContent(ca);
    const tags = this.tags(ca.authority, 'ca', { [TAG_GENERATION]: String(ca.generation) });
    const stored = await this.readCurrentRestoring(name);
    if (stored !== undefined) return this.parseCa(name, ca.authority, ca.generation, stored.secretString);
    const created = await this.create(name, content, tags);
    if (created) return { ...ca };
    // Another writer created it first: theirs wins.
    const winner = await this.readCurrent(name);
    if (winner !== undefined) return this.parseCa(name, ca.authority, ca.generation, winner.secretString);
    // The secret exists without any value (made out of band): nothing to keep, so store ours.
    await this.put(name, content, undefined);
    return { ...ca };
  }

  async readBundle(authority: string): Promise<string | undefined> {
    checkSegment('authority', authority);
    const name = this.bundleSecretName(authority);
    const current = await this.readCurrent(name);
    if (current === undefined) return undefined;
    const parsed = parseStoredJson(`secret ${name}`, current.secretString, ['ca.crt']);
    if (!parsed.ok) throw new StoredDataError(`trust bundle of authority ${authority} is unreadable: ${parsed.problem}`);
    return parsed.value['ca.crt'];
  }

  async writeBundle(authority: string, bundlePem: string): Promise<void> {
    checkSegment('authority', authority);
    await this.write(this.bundleSecretName(authority), JSON.stringify({ 'ca.crt': bundlePem }), this.tags(authority, 'bundle', {}));
  }

  async listLeafIds(authority: string): Promise<string[]> {
    checkSegment('authority', authority);
    const namePrefix = `${this.prefix}/${authority}/leaf/`;
    const ids = new Set<string>();
    for (const { name, tags } of await this.listTagged(authority, 'leaf', namePrefix)) {
      const id = name.slice(namePrefix.length);
      if (SEGMENT_PATTERN.test(id) && tags.get(TAG_LEAF) === id) ids.add(id);
    }
    return [...ids].sort();
  }

  async readLeaves(
    authority: string,
    ids: readonly string[],
  ): Promise<{ leaves: StoredLeaf[]; unreadable: UnreadableSecret[] }> {
    checkSegment('authority', authority);
    const unique = [...new Set(ids)];
    for (const id of unique) checkSegment('leaf id', id);
    const chunks: string[][] = [];
    for (let i = 0; i < unique.length; i += BATCH_SIZE) chunks.push(unique.slice(i, i + BATCH_SIZE));

    const byId = new Map<string, StoredLeaf | UnreadableSecret>();
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let chunk = chunks[next++]; chunk !== undefined; chunk = chunks[next++]) {
        await this.readLeafChunk(authority, chunk, byId);
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, chunks.length) }, worker));

    return inIdOrder(unique, byId);
  }

  async writeLeaf(leaf: StoredLeaf, previousVersionId?: string): Promise<void> {
    checkSegment('authority', leaf.authority);
    checkSegment('leaf id', leaf.id);
    const name = this.leafSecretName(leaf.authority, leaf.id);
    const content = leafJson(leaf);
    if (previousVersionId !== undefined) {
      await this.put(name, content, previousVersionId);
      return;
    }
    await this.write(name, content, this.tags(leaf.authority, 'leaf', { [TAG_LEAF]: leaf.id }));
  }

  // -- reads -------------------------------------------------------------------------------------

  private parseCa(name: string, authority: string, generation: number, secretString: string | undefined): StoredCa {
    const withKey = parseStoredJson(`secret ${name}`, secretString, ['ca.crt', 'ca.key']);
    if (withKey.ok) return { authority, generation, certificatePem: withKey.value['ca.crt'], privateKeyPem: withKey.value['ca.key'] };
    const inKms = parseStoredJson(`secret ${name}`, secretString, ['ca.crt', 'ca.keyArn']);
    if (inKms.ok && KMS_KEY_ARN.test(inKms.value['ca.keyArn'])) {
      return { authority, generation, certificatePem: inKms.value['ca.crt'], keyArn: inKms.value['ca.keyArn'] };
    }
    const problem = inKms.ok ? `secret ${name} has a ca.keyArn that is not a KMS key ARN` : withKey.problem.replace(/ca\.key$/, 'ca.key (or ca.keyArn)');
    throw new StoredDataError(`CA generation ${generation} of authority ${authority} is unreadable: ${problem}`);
  }

  /**
   * The AWSCURRENT value; `undefined` when the secret does not exist or has no current value;
   * `'deleted'` when it is scheduled for deletion.
   */
  private async getCurrent(name: string): Promise<CurrentValue | undefined | 'deleted'> {
    try {
      const out = await this.readLimiters.reads.run(() => this.client.send(new GetSecretValueCommand({ SecretId: name })));
      if (out.VersionId === undefined) return undefined;
      return { versionId: out.VersionId, secretString: out.SecretString };
    } catch (error) {
      const code = errorName(error);
      if (code === 'ResourceNotFoundException') return undefined;
      if (code === 'InvalidRequestException' && (await this.isScheduledForDeletion(name))) return 'deleted';
      throw error;
    }
  }

  /** The AWSCURRENT value, or undefined: to a reader, a secret scheduled for deletion is gone. */
  private async readCurrent(name: string): Promise<CurrentValue | undefined> {
    const current = await this.getCurrent(name);
    return current === 'deleted' ? undefined : current;
  }

  /** Like readCurrent, but a secret scheduled for deletion is restored first, so it can be written. */
  private async readCurrentRestoring(name: string): Promise<CurrentValue | undefined> {
    const current = await this.getCurrent(name);
    if (current !== 'deleted') return current;
    // Writing means the secret is wanted again: a deleted leaf comes back, a deleted CA is kept.
    await this.limiter.run(() => this.writeClient.send(new RestoreSecretCommand({ SecretId: name })));
    return this.readCurrent(name);
  }

  private async isScheduledForDeletion(name: string): Promise<boolean> {
    try {
      const described = await this.readLimiters.reads.run(() => this.client.send(new DescribeSecretCommand({ SecretId: name })));
      return described.DeletedDate !== undefined;
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') return false;
      throw error;
    }
  }

  private async readLeafChunk(
    authority: string,
    ids: readonly string[],
    into: Map<string, StoredLeaf | UnreadableSecret>,
  ): Promise<void> {
    const idByName = new Map(ids.map((id) => [this.leafSecretName(authority, id), id]));
    const command = new BatchGetSecretValueCommand({ SecretIdList: [...idByName.keys()] });
    const out = await this.readLimiters.batchGet.run(() => this.client.send(command));
    for (const value of out.SecretValues ?? []) {
      const id = value.Name === undefined ? undefined : idByName.get(value.Name);
      if (id === undefined || value.Name === undefined) continue;
      const parsed = parseStoredJson(`secret ${value.Name}`, value.SecretString, LEAF_KEYS);
      into.set(
        id,
        parsed.ok
          ? {
              authority,
              id,
              certificatePem: parsed.value['tls.crt'],
              privateKeyPem: parsed.value['tls.key'],
              bundlePem: parsed.value['ca.crt'],
              ...(value.VersionId === undefined ? {} : { versionId: value.VersionId }),
            }
          : { authority, id, problem: parsed.problem },
      );
    }
    for (const error of out.Errors ?? []) {
      const id = error.SecretId === undefined ? undefined : idByName.get(error.SecretId);
      if (id === undefined) continue;
      // Missing or scheduled for deletion: absent, like a leaf that never existed.
      if (error.ErrorCode === 'ResourceNotFoundException' || error.ErrorCode === 'InvalidRequestException') continue;
      into.set(id, {
        authority,
        id,
        problem: `Secrets Manager could not return secret ${this.leafSecretName(authority, id)}: ${error.ErrorCode ?? 'unknown error'}${error.Message === undefined ? '' : ` (${error.Message})`}`,
      });
    }
  }

  /** Secrets of one kind for an authority, with their tags checked exactly (the API filters by prefix). */
  private async listTagged(
    authority: string,
    kind: Kind,
    namePrefix: string,
  ): Promise<Array<{ name: string; tags: Map<string, string>; currentVersion: string | undefined }>> {
    const found: Array<{ name: string; tags: Map<string, string>; currentVersion: string | undefined }> = [];
    const filters = [
      { Key: 'name' as const, Values: [namePrefix] },
      { Key: 'tag-key' as const, Values: [TAG_KIND] },
      { Key: 'tag-value' as const, Values: [authority] },
    ];
    // Paged by hand rather than with paginateListSecrets, so that each page goes through the limiter.
    let nextToken: string | undefined;
    do {
      const input = { Filters: filters, MaxResults: 100, ...(nextToken === undefined ? {} : { NextToken: nextToken }) };
      const page = await this.readLimiters.list.run(() => this.client.send(new ListSecretsCommand(input)));
      nextToken = page.NextToken;
      for (const entry of page.SecretList ?? []) {
        if (entry.Name?.startsWith(namePrefix) !== true) continue;
        const tags = new Map((entry.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
        if (tags.get(TAG_AUTHORITY) === authority && tags.get(TAG_KIND) === kind) {
          const currentVersion = Object.entries(entry.SecretVersionsToStages ?? {}).find(([, stages]) => stages.includes('AWSCURRENT'))?.[0];
          found.push({ name: entry.Name, tags, currentVersion });
        }
      }
    } while (nextToken !== undefined);
    return found;
  }

  // -- writes ------------------------------------------------------------------------------------

  private tags(authority: string, kind: Kind, extra: Record<string, string>): Tag[] {
    return Object.entries({ [TAG_AUTHORITY]: authority, [TAG_KIND]: kind, ...extra }).map(([Key, Value]) => ({ Key, Value }));
  }

  /** Makes `content` the current value of `name`, creating the secret if needed; no call if it already is. */
  private async write(name: string, content: string, tags: Tag[]): Promise<void> {
    const current = await this.readCurrentRestoring(name);
    if (current === undefined) {
      if (await this.create(name, content, tags)) return;
      // Lost a race with another creator: continue from whatever is current now.
      const now = await this.readCurrent(name);
      if (now?.secretString === content) return;
      await this.put(name, content, now?.versionId);
      return;
    }
    if (current.secretString === content) return;
    await this.put(name, content, current.versionId);
  }

  /** Creates the secret with `content` as its first version; false if the name is already taken. */
  private async create(name: string, content: string, tags: Tag[]): Promise<boolean> {
    const command = new CreateSecretCommand({
      Name: name,
      SecretString: content,
      ClientRequestToken: clientRequestToken(name, content, undefined),
      Tags: tags,
      Description: 'Managed by certrotate; rewritten on rotation and renewal.',
      ...(this.kmsKeyId === undefined ? {} : { KmsKeyId: this.kmsKeyId }),
    });
    return this.limitedWrite(() => this.writeClient.send(command), 'ResourceExistsException', () => false);
  }

  private async put(name: string, content: string, currentVersionId: string | undefined): Promise<void> {
    const command = new PutSecretValueCommand({ SecretId: name, SecretString: content, ClientRequestToken: clientRequestToken(name, content, currentVersionId) });
    await this.limitedWrite(() => this.writeClient.send(command), 'ResourceNotFoundException', (error) => {
      throw new NotFoundError(`secret ${name} disappeared while being written; the next run recreates it`, { cause: error });
    });
  }

  /** One write through the limiter; the service error named `expected` is answered by `onExpected`, any other thrown. */
  private async limitedWrite(write: () => Promise<unknown>, expected: string, onExpected: (error: unknown) => boolean): Promise<boolean> {
    try {
      await this.limiter.run(write);
      return true;
    } catch (error) {
      if (errorName(error) === expected) return onExpected(error);
      throw error;
    }
  }

}
