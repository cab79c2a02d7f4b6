/** The local KMS endpoint on the wire: the real SDK client against it, checked against KMS's documented behaviour. */
import { createHash, createPublicKey, verify } from 'node:crypto';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetPublicKeyCommand,
  KMSClient,
  ListKeysCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
} from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalKms, type LocalKms } from '../../lib/local/kms-server.js';

let kms: LocalKms;
let client: KMSClient;
const seen: string[] = [];

beforeAll(async () => {
  kms = await startLocalKms();
  client = new KMSClient({ region: kms.region, endpoint: kms.endpoint, credentials: kms.credentials, maxAttempts: 1 });
  // Every answer's body, to check that no key material ever leaves the endpoint.
  client.middlewareStack.add((next) => async (args) => {
    const result = await next(args);
    seen.push(JSON.stringify(result.output, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value)));
    return result;
  }, { step: 'deserialize', name: 'recordAnswers' });
});
afterAll(async () => {
  client.destroy();
  await kms.stop();
});

async function newKey(spec: 'ECC_NIST_P256' | 'RSA_2048' = 'ECC_NIST_P256'): Promise<string> {
  const created = await client.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: 'SIGN_VERIFY' }));
  return created.KeyMetadata?.Arn ?? '';
}

describe('the local KMS', () => {
  it('signs RAW messages and DIGESTs that verify with the key\'s public key, and never answers with the private key', async () => {
    const arn = await newKey();
    const publicKey = createPublicKey({ key: Buffer.from((await client.send(new GetPublicKeyCommand({ KeyId: arn }))).PublicKey ?? []), format: 'der', type: 'spki' });
    const message = Buffer.from('to be signed');
    const raw = await client.send(new SignCommand({ KeyId: arn, Message: message, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
    const digest = await client.send(new SignCommand({ KeyId: arn, Message: createHash('sha256').update(message).digest(), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }));
    for (const answer of [raw, digest]) expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, answer.Signature ?? new Uint8Array())).toBe(true);
    expect(seen.join('\n')).not.toMatch(/PRIVATE KEY|"d":/);
  });

  it('answers a wrong algorithm, a wrong digest length and a too-short deletion window as KMS does', async () => {
    const arn = await newKey();
    await expect(client.send(new SignCommand({ KeyId: arn, Message: new Uint8Array(32), MessageType: 'DIGEST', SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256' }))).rejects.toMatchObject({ name: 'InvalidKeyUsageException' });
    await expect(client.send(new SignCommand({ KeyId: arn, Message: new Uint8Array(20), MessageType: 'DIGEST', SigningAlgorithm: 'ECDSA_SHA_256' }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(client.send(new ScheduleKeyDeletionCommand({ KeyId: arn, PendingWindowInDays: 6 }))).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(client.send(new DescribeKeyCommand({ KeyId: 'alias/none/such' }))).rejects.toMatchObject({ name: 'NotFoundException' });
  });

  it('finds a key by id, ARN, alias name and alias ARN; refuses a second alias of the same name', async () => {
    const arn = await newKey('RSA_2048');
    await client.send(new CreateAliasCommand({ AliasName: 'alias/wire/test', TargetKeyId: arn }));
    await expect(client.send(new CreateAliasCommand({ AliasName: 'alias/wire/test', TargetKeyId: arn }))).rejects.toMatchObject({ name: 'AlreadyExistsException' });
    const id = arn.slice(arn.lastIndexOf('/') + 1);
    for (const keyId of [id, arn, 'alias/wire/test', `arn:aws:kms:${kms.region}:000000000000:alias/wire/test`]) {
      expect((await client.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata).toMatchObject({ Arn: arn, KeySpec: 'RSA_2048', KeyState: 'Enabled' });
    }
  });

  it('pages ListKeys with Limit and Marker', async () => {
    await Promise.all([newKey(), newKey(), newKey()]);
    const first = await client.send(new ListKeysCommand({ Limit: 2 }));
    expect(first.Keys).toHaveLength(2);
    expect(first.Truncated).toBe(true);
    const rest = await client.send(new ListKeysCommand({ Limit: 1000, Marker: first.NextMarker }));
    expect(rest.Truncated).toBe(false);
    const all = [...(first.Keys ?? []), ...(rest.Keys ?? [])].map((key) => key.KeyId);
    expect(new Set(all).size).toBe(all.length);
  });
});
