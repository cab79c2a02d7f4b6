/**
 * CaKeyService on AWS KMS: each CA generation's key is an asymmetric SIGN_VERIFY key, tagged with
 * its authority and generation, named by the alias `alias/<prefix>/<authority>/<generation>`.
 *
 * Exactly one key per generation, with crashes and racing runs: the alias is the lock.
 * 1. DescribeKey(alias): a key made before is used.
 * 2. No alias: a key a dead run created but never aliased is looked for by its tags (ListKeys,
 *    ListResourceTags; oldest first) and adopted, else a key is created (CreateKey, one attempt:
 *    a timed-out CreateKey that did create is found here by the next run).
 * 3. CreateAlias to it: first wins. The loser reads the winner's key from the alias and schedules
 *    deletion of its candidate, which never signed anything (only the alias's key ever signs).
 *
 * Sign calls are paced and retried on throttling with backoff (KMS's asymmetric-operation quota is
 * per second and shared with the account), through a WriteLimiter of their own.
 */
import type { KeyObject } from 'node:crypto';
import type { KMSClient, KeyMetadata, KeySpec, SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import { CA_KEY_DELETION_WINDOW_DAYS, CA_KEY_KIND, CA_KEY_TAGS, caKeyAlias } from '../ca-key-names.js';
import { CertrotateError } from '../errors.js';
import type { CaKeyService } from '../ports.js';
import { CaSignerError, publicKeyFromSpki, remoteSigner, type CaSigner, type KeyAlgorithm } from '../pki/index.js';
import { loadKms } from './kms-client.js';
import type { WriteLimiter } from './write-limiter.js';

export interface KmsCaKeysOptions {
  client: () => Promise<KMSClient>;
  /** First segment of every alias. Default `certrotate`. */
  prefix?: string;
  /** The key policy of each new key (infra/parts/ca-keys.ts documents it); KMS's default when absent. */
  keyPolicy?: string;
  /** Paces and retries every call but CreateKey's retries. */
  limiter: WriteLimiter;
}

const KEY_SPEC: Record<KeyAlgorithm, KeySpec> = {
  p256: 'ECC_NIST_P256',
  p384: 'ECC_NIST_P384',
  rsa2048: 'RSA_2048',
  rsa3072: 'RSA_3072',
  rsa4096: 'RSA_4096',
};

/** What lib/pki/algorithms.ts signs with for each key: ECDSA with SHA-256/384, RSA PKCS#1 v1.5 with SHA-256. */
const SIGNING_ALGORITHM: Record<KeyAlgorithm, SigningAlgorithmSpec> = {
  p256: 'ECDSA_SHA_256',
  p384: 'ECDSA_SHA_384',
  rsa2048: 'RSASSA_PKCS1_V1_5_SHA_256',
  rsa3072: 'RSASSA_PKCS1_V1_5_SHA_256',
  rsa4096: 'RSASSA_PKCS1_V1_5_SHA_256',
};

/** A KMS key is gone or is not the kind of key a CA generation needs. */
export class CaKeyError extends CertrotateError {
  override name = 'CaKeyError';
}

/**
 * The key id of a key ARN. KMS takes either for DisableKey and ScheduleKeyDeletion; moto 5.2 takes
 * only the id there (an ARN fails with an internal error), so the id is what is sent.
 */
function keyIdOf(keyArn: string): string {
  const at = keyArn.lastIndexOf(':key/');
  return at < 0 ? keyArn : keyArn.slice(at + 5);
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

export class KmsCaKeys implements CaKeyService {
  readonly #client: () => Promise<KMSClient>;
  readonly #prefix: string;
  readonly #keyPolicy: string | undefined;
  readonly #limiter: WriteLimiter;

  constructor(options: KmsCaKeysOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix ?? 'certrotate';
    this.#keyPolicy = options.keyPolicy;
    this.#limiter = options.limiter;
  }

  async keyFor(authority: string, generation: number, algorithm: KeyAlgorithm): Promise<{ keyArn: string; signer: CaSigner }> {
    const alias = caKeyAlias(this.#prefix, authority, generation);
    let key = await this.#describe(alias);
    if (key === undefined) {
      const adopted = await this.#findUnaliased(authority, generation);
      const candidate = adopted ?? (await this.#create(authority, generation, algorithm));
      key = await this.#claimAlias(alias, candidate);
    }
    if (key.KeyState !== 'Enabled' || key.KeySpec !== KEY_SPEC[algorithm] || key.Arn === undefined) {
      throw new CaKeyError(
        `the KMS key ${key.Arn ?? alias} of CA generation ${generation} of authority ${authority} is ${key.KeyState ?? 'in an unknown state'} with key spec ${key.KeySpec ?? 'unknown'}; ` +
          `it needs an Enabled ${KEY_SPEC[algorithm]} key: restore the key (or delete alias ${alias} if it points at the wrong key)`,
      );
    }
    const keyArn = key.Arn;
    const sdk = await loadKms();
    const answer = await this.#call(async (client) => client.send(new sdk.GetPublicKeyCommand({ KeyId: keyArn })));
    if (answer.PublicKey === undefined) throw new CaKeyError(`KMS returned no public key for ${keyArn}`);
    return { keyArn, signer: this.signerFor(keyArn, publicKeyFromSpki(answer.PublicKey).publicKey) };
  }

  signerFor(keyArn: string, publicKey: KeyObject): CaSigner {
    return remoteSigner(publicKey, `KMS key ${keyArn}`, async (digest, algorithm) => {
      const sdk = await loadKms();
      const command = new sdk.SignCommand({ KeyId: keyArn, Message: digest, MessageType: 'DIGEST', SigningAlgorithm: SIGNING_ALGORITHM[algorithm] });
      let answer;
      try {
        answer = await this.#call(async (client) => client.send(command));
      } catch (error) {
        const name = errorName(error);
        if (name === 'NotFoundException' || name === 'DisabledException' || name === 'KMSInvalidStateException') {
          throw new CaSignerError(`the CA key ${keyArn} cannot sign (${name}): it was disabled or scheduled for deletion; re-enable it or rotate the CA`, { cause: error });
        }
        throw error;
      }
      if (answer.Signature === undefined) throw new CaKeyError(`KMS returned no signature from ${keyArn}`);
      return answer.Signature;
    });
  }

  async disable(keyArn: string): Promise<void> {
    const sdk = await loadKms();
    const key = await this.#describe(keyArn);
    if (key?.KeyState !== 'Enabled') return;
    await this.#call(async (client) => client.send(new sdk.DisableKeyCommand({ KeyId: keyIdOf(keyArn) })));
  }

  async scheduleDeletion(keyArn: string): Promise<void> {
    await this.#scheduleDeletion(keyArn, CA_KEY_DELETION_WINDOW_DAYS);
  }

  async #scheduleDeletion(keyArn: string, days: number): Promise<void> {
    const sdk = await loadKms();
    const key = await this.#describe(keyArn);
    if (key === undefined || key.KeyState === 'PendingDeletion') return;
    try {
      await this.#call(async (client) => client.send(new sdk.ScheduleKeyDeletionCommand({ KeyId: keyIdOf(keyArn), PendingWindowInDays: days })));
    } catch (error) {
      // A racing run scheduled it first.
      if (errorName(error) !== 'KMSInvalidStateException') throw error;
    }
  }

  /** The key a key id or alias names; undefined when there is none. */
  async #describe(keyId: string): Promise<KeyMetadata | undefined> {
    const sdk = await loadKms();
    try {
      return (await this.#call(async (client) => client.send(new sdk.DescribeKeyCommand({ KeyId: keyId })))).KeyMetadata;
    } catch (error) {
      if (errorName(error) === 'NotFoundException') return undefined;
      throw error;
    }
  }

  /**
   * An Enabled key tagged for this authority and generation that no alias names: made by a run that
   * died before CreateAlias. The oldest, when a few runs died.
   */
  async #findUnaliased(authority: string, generation: number): Promise<KeyMetadata | undefined> {
    const sdk = await loadKms();
    const found: KeyMetadata[] = [];
    let marker: string | undefined;
    do {
      const listed = await this.#call(async (client) => client.send(new sdk.ListKeysCommand({ Limit: 1000, ...(marker === undefined ? {} : { Marker: marker }) })));
      for (const entry of listed.Keys ?? []) {
        if (entry.KeyId === undefined || !(await this.#taggedFor(entry.KeyId, authority, generation))) continue;
        const key = await this.#describe(entry.KeyId);
        if (key?.KeyState === 'Enabled' && !(await this.#aliased(entry.KeyId))) found.push(key);
      }
      marker = listed.Truncated === true ? listed.NextMarker : undefined;
    } while (marker !== undefined);
    return found.sort((a, b) => (a.CreationDate?.getTime() ?? 0) - (b.CreationDate?.getTime() ?? 0))[0];
  }

  /** True when an alias names the key: it belongs to its alias's generation, never to be adopted. */
  async #aliased(keyId: string): Promise<boolean> {
    const sdk = await loadKms();
    const listed = await this.#call(async (client) => client.send(new sdk.ListAliasesCommand({ KeyId: keyId, Limit: 1 })));
    return (listed.Aliases ?? []).length > 0;
  }

  /** True when the key carries this generation's tags; keys IAM does not let us read are not ours. */
  async #taggedFor(keyId: string, authority: string, generation: number): Promise<boolean> {
    const sdk = await loadKms();
    let tags;
    try {
      tags = (await this.#call(async (client) => client.send(new sdk.ListResourceTagsCommand({ KeyId: keyId, Limit: 50 })))).Tags ?? [];
    } catch (error) {
      const name = errorName(error);
      if (name === 'AccessDeniedException' || name === 'NotFoundException') return false;
      throw error;
    }
    const value = (key: string) => tags.find((tag) => tag.TagKey === key)?.TagValue;
    return value(CA_KEY_TAGS.kind) === CA_KEY_KIND && value(CA_KEY_TAGS.prefix) === this.#prefix && value(CA_KEY_TAGS.authority) === authority && value(CA_KEY_TAGS.generation) === String(generation);
  }

  async #create(authority: string, generation: number, algorithm: KeyAlgorithm): Promise<KeyMetadata> {
    const sdk = await loadKms();
    const client = await this.#client();
    await this.#limiter.acquire();
    const created = await client.send(
      new sdk.CreateKeyCommand({
        KeySpec: KEY_SPEC[algorithm],
        KeyUsage: 'SIGN_VERIFY',
        Description: `certrotate CA key: authority ${authority}, generation ${generation}`,
        Tags: [
          { TagKey: CA_KEY_TAGS.kind, TagValue: CA_KEY_KIND },
          { TagKey: CA_KEY_TAGS.prefix, TagValue: this.#prefix },
          { TagKey: CA_KEY_TAGS.authority, TagValue: authority },
          { TagKey: CA_KEY_TAGS.generation, TagValue: String(generation) },
        ],
        ...(this.#keyPolicy === undefined ? {} : { Policy: this.#keyPolicy, BypassPolicyLockoutSafetyCheck: true }),
      }),
    );
    if (created.KeyMetadata === undefined) throw new CaKeyError('KMS CreateKey returned no key metadata');
    return created.KeyMetadata;
  }

  /** Points the alias at `candidate`, or, when another run got there first, returns its key and retires ours. */
  async #claimAlias(alias: string, candidate: KeyMetadata): Promise<KeyMetadata> {
    const sdk = await loadKms();
    const candidateId = candidate.KeyId ?? '';
    try {
      await this.#call(async (client) => client.send(new sdk.CreateAliasCommand({ AliasName: alias, TargetKeyId: candidateId })));
      return candidate;
    } catch (error) {
      if (errorName(error) !== 'AlreadyExistsException') throw error;
    }
    const winner = await this.#describe(alias);
    if (winner === undefined) throw new CaKeyError(`alias ${alias} exists and names no key`);
    // The candidate never signed: only the alias's key does. The shortest wait is enough.
    if (winner.KeyId !== candidateId) await this.#scheduleDeletion(candidate.Arn ?? candidateId, 7);
    return winner;
  }

  /** One call, paced and retried on throttling and transient errors. */
  async #call<T>(send: (client: KMSClient) => Promise<T>): Promise<T> {
    const client = await this.#client();
    return this.#limiter.run(() => send(client));
  }
}
