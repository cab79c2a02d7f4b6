/** What a reader of the local environment's secrets and KMS sees of an authority's CA keys. */
import { DescribeKeyCommand, ListKeysCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { CA_KEY_TAGS } from '../../lib/ca-key-names.js';
import type { LocalEnvironment } from '../../lib/local/environment.js';

const AUTHORITY = 'cluster';

/** The CA secret's JSON keys and its key ARN, as a reader of the secret sees them. */
export async function caSecret(env: LocalEnvironment, generation: number): Promise<{ keys: string[]; keyArn: string | undefined }> {
  const answer = await env.clients.secretsManager.send(new GetSecretValueCommand({ SecretId: `certrotate/${AUTHORITY}/ca/${generation}` }));
  const value = JSON.parse(answer.SecretString ?? '{}') as Record<string, string>;
  return { keys: Object.keys(value).sort(), keyArn: value['ca.keyArn'] };
}

export async function keyState(env: LocalEnvironment, keyArn: string | undefined): Promise<string | undefined> {
  return (await env.kms.client.send(new DescribeKeyCommand({ KeyId: keyArn }))).KeyMetadata?.KeyState;
}

/** Every KMS key tagged for a generation of the authority, with its state. */
export async function keysOfGeneration(env: LocalEnvironment, generation: number): Promise<Array<{ arn: string; state: string }>> {
  const found: Array<{ arn: string; state: string }> = [];
  for (const key of (await env.kms.client.send(new ListKeysCommand({}))).Keys ?? []) {
    const tags = (await env.kms.client.send(new ListResourceTagsCommand({ KeyId: key.KeyId }))).Tags ?? [];
    const tag = (name: string) => tags.find((t) => t.TagKey === name)?.TagValue;
    if (tag(CA_KEY_TAGS.authority) === AUTHORITY && tag(CA_KEY_TAGS.generation) === String(generation)) {
      found.push({ arn: key.KeyArn ?? '', state: (await keyState(env, key.KeyArn)) ?? '' });
    }
  }
  return found;
}

