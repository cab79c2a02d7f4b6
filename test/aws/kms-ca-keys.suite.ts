/**
 * The KMS CA key adapter's behaviour, run against our local KMS (kms-ca-keys.test.ts) and against
 * moto (kms-ca-keys.moto.test.ts), so that both endpoints are checked against one expectation.
 */
import type { KMSClient} from '@aws-sdk/client-kms';
import { CreateKeyCommand, DescribeKeyCommand, GetKeyPolicyCommand, ListAliasesCommand, ListKeysCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KmsCaKeys } from '../../lib/aws/kms-ca-keys.js';
import { WriteLimiter } from '../../lib/aws/write-limiter.js';
import { CA_KEY_TAGS } from '../../lib/ca-key-names.js';
import { CaSignerError, Issuer, selfSignCa, verifyChain, type KeyAlgorithm } from '../../lib/pki/index.js';

export interface KmsEndpoint {
  client: KMSClient;
  /**
   * False for moto 5.2, whose KMS documents `MessageType: DIGEST` as not implemented (it signs the
   * digest as a message). AWS's API reference documents DIGEST; the adapter must then refuse the
   * signature instead of issuing a certificate that does not verify.
   */
  signsDigests: boolean;
}

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 4);

export function caKeys(endpoint: KmsEndpoint, prefix: string): KmsCaKeys {
  return new KmsCaKeys({ client: () => Promise.resolve(endpoint.client), prefix, limiter: new WriteLimiter({ writesPerSecond: 1000, burst: 20, baseDelayMs: 1 }) });
}

async function keysTaggedFor(client: KMSClient, authority: string, generation: number): Promise<Array<{ arn: string; state: string }>> {
  const found: Array<{ arn: string; state: string }> = [];
  for (const key of (await client.send(new ListKeysCommand({ Limit: 1000 }))).Keys ?? []) {
    const tags = (await client.send(new ListResourceTagsCommand({ KeyId: key.KeyId }))).Tags ?? [];
    const tag = (name: string) => tags.find((t) => t.TagKey === name)?.TagValue;
    if (tag(CA_KEY_TAGS.authority) !== authority || tag(CA_KEY_TAGS.generation) !== String(generation)) continue;
    const meta = (await client.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata;
    found.push({ arn: meta?.Arn ?? '', state: meta?.KeyState ?? '' });
  }
  return found;
}

export function kmsCaKeySuite(name: string, endpoint: () => KmsEndpoint): void {
  describe(`KmsCaKeys against ${name}`, () => {
    it.runIf(!endpoint().signsDigests)('refuses a signature that does not verify with the key\'s public key, issuing nothing', async () => {
      const keys = caKeys(endpoint(), 'bad-sign');
      const { signer } = await keys.keyFor('cluster', 1, 'p256');
      await expect(selfSignCa({ authority: 'cluster', generation: 1, now: NOW, lifetimeMs: 365 * DAY }, signer)).rejects.toThrow(/does not verify with the CA's public key/);
    });

    it.runIf(endpoint().signsDigests).each<KeyAlgorithm>(['p256', 'p384', 'rsa2048'])('signs a %s CA and its leaves with a key that is only in KMS, and the chain verifies', async (algorithm) => {
      const keys = caKeys(endpoint(), `t-${algorithm}`);
      const { keyArn, signer } = await keys.keyFor('cluster', 1, algorithm);
      expect(keyArn).toMatch(/^arn:aws:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]+$/);
      const ca = await selfSignCa({ authority: 'cluster', generation: 1, now: NOW, lifetimeMs: 365 * DAY }, signer);
      expect(new X509Certificate(ca.pem).verify(signer.publicKey)).toBe(true);
      const leaf = await new Issuer(ca, keys.signerFor(keyArn, ca.publicKey)).issueLeaf({ subject: 'CN=api', dnsNames: ['api.example'], usage: 'server', lifetimeMs: 30 * DAY }, NOW);
      expect(() => verifyChain(leaf.certificatePem, ca.pem, NOW + DAY)).not.toThrow();
    });

    it('creates one key per generation, tagged, named by its alias, and finds it again on the next call', async () => {
      const { client } = endpoint();
      const keys = caKeys(endpoint(), 'once');
      const first = await keys.keyFor('etcd', 3, 'p256');
      const again = await keys.keyFor('etcd', 3, 'p256');
      expect(again.keyArn).toBe(first.keyArn);
      expect(await keysTaggedFor(client, 'etcd', 3)).toEqual([{ arn: first.keyArn, state: 'Enabled' }]);
      const aliases = (await client.send(new ListAliasesCommand({ KeyId: first.keyArn }))).Aliases ?? [];
      expect(aliases.map((alias) => alias.AliasName)).toContain('alias/once/etcd/3');
      const meta = (await client.send(new DescribeKeyCommand({ KeyId: 'alias/once/etcd/3' }))).KeyMetadata;
      expect(meta).toMatchObject({ KeyUsage: 'SIGN_VERIFY', KeySpec: 'ECC_NIST_P256', Arn: first.keyArn });
    });

    it('adopts the key a run created and then died before naming it, instead of creating a second one', async () => {
      const { client } = endpoint();
      const orphan = await client.send(new CreateKeyCommand({
        KeySpec: 'ECC_NIST_P256',
        KeyUsage: 'SIGN_VERIFY',
        Tags: [{ TagKey: CA_KEY_TAGS.kind, TagValue: 'ca-key' }, { TagKey: CA_KEY_TAGS.prefix, TagValue: 'orphan' }, { TagKey: CA_KEY_TAGS.authority, TagValue: 'proxy' }, { TagKey: CA_KEY_TAGS.generation, TagValue: '2' }],
      }));
      const { keyArn } = await caKeys(endpoint(), 'orphan').keyFor('proxy', 2, 'p256');
      expect(keyArn).toBe(orphan.KeyMetadata?.Arn);
      expect(await keysTaggedFor(client, 'proxy', 2)).toEqual([{ arn: keyArn, state: 'Enabled' }]);
    });

    it('gives racing runs the same key and schedules deletion of the losers\' keys', async () => {
      const { client } = endpoint();
      const results = await Promise.all([1, 2, 3, 4].map(() => caKeys(endpoint(), 'race').keyFor('front', 5, 'p256')));
      const arns = new Set(results.map((result) => result.keyArn));
      expect(arns.size).toBe(1);
      const tagged = await keysTaggedFor(client, 'front', 5);
      expect(tagged.filter((key) => key.state === 'Enabled').map((key) => key.arn)).toEqual([...arns]);
      expect(tagged.every((key) => key.state === 'Enabled' || key.state === 'PendingDeletion')).toBe(true);
    });

    it('stops signing once disabled, and schedules deletion with the longest wait, each once', async () => {
      const { client } = endpoint();
      const keys = caKeys(endpoint(), 'retire');
      const { keyArn, signer } = await keys.keyFor('old', 1, 'p256');
      await keys.disable(keyArn);
      await keys.disable(keyArn);
      expect((await client.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.KeyState).toBe('Disabled');
      // AWS answers Sign on a disabled key with DisabledException; moto 5.2 still signs (with its
      // DIGEST gap, a signature the adapter refuses as not the CA's): a CaSignerError either way.
      await expect(signer.sign(new Uint8Array([1, 2, 3]))).rejects.toThrow(CaSignerError);
      await keys.scheduleDeletion(keyArn);
      await keys.scheduleDeletion(keyArn);
      const meta = (await client.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata;
      expect(meta?.KeyState).toBe('PendingDeletion');
      const days = ((meta?.DeletionDate?.getTime() ?? 0) - Date.now()) / DAY;
      expect(days).toBeGreaterThan(29.9);
      expect(days).toBeLessThan(30.1);
    });

    it('keeps the key policy it was created with', async () => {
      const { client } = endpoint();
      const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'Admin', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: 'kms:*', Resource: '*' }] });
      const keys = new KmsCaKeys({ client: () => Promise.resolve(client), prefix: 'policy', keyPolicy: policy, limiter: new WriteLimiter({ writesPerSecond: 1000 }) });
      const { keyArn } = await keys.keyFor('pol', 1, 'p256');
      const stored = (await client.send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default' }))).Policy;
      expect(JSON.parse(stored ?? '{}')).toEqual(JSON.parse(policy));
    });
  });
}
