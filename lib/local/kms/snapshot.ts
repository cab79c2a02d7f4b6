/**
 * The local KMS's keys and aliases as JSON-safe data and back, for the sandbox's restart. The
 * private halves are written out as PKCS#8 PEM: this is a local emulator on the user's laptop, and
 * a sandbox whose CA keys vanished at every restart could sign nothing again. Real KMS never lets a
 * private key out; the sandbox keeps this file at mode 0600 in its own directory.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { ValidationError } from '../../errors.js';
import { isKeySpec, type KeySpec } from './signing.js';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface LocalKey {
  id: string;
  arn: string;
  spec: KeySpec;
  description: string;
  policy: string;
  createdAt: number;
  state: KeyState;
  deletionDate?: number;
  pendingWindowInDays?: number;
  tags: Map<string, string>;
  privateKey: KeyObject;
}

export interface Alias {
  name: string;
  targetKeyId: string;
  createdAt: number;
}

type KeyJson = Omit<LocalKey, 'tags' | 'privateKey'> & { tags: [string, string][]; privateKeyPem: string };

export interface KmsSnapshot {
  format: 'certrotate-local-kms/1';
  keys: KeyJson[];
  aliases: Alias[];
}

export function snapshotKms(keys: readonly LocalKey[], aliases: readonly Alias[]): KmsSnapshot {
  return {
    format: 'certrotate-local-kms/1',
    keys: keys.map(({ tags, privateKey, ...key }) => ({
      ...key,
      tags: [...tags.entries()],
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    })),
    aliases: aliases.map((alias) => ({ ...alias })),
  };
}

export function restoreKms(snapshot: KmsSnapshot): { keys: LocalKey[]; aliases: Alias[] } {
  if (snapshot.format !== 'certrotate-local-kms/1' || !Array.isArray(snapshot.keys) || !Array.isArray(snapshot.aliases)) {
    throw new ValidationError('the local KMS snapshot is not one this version wrote (format certrotate-local-kms/1)');
  }
  const keys = snapshot.keys.map(({ tags, privateKeyPem, ...key }) => {
    if (!isKeySpec(key.spec)) throw new ValidationError(`the local KMS snapshot holds key ${key.id} of an unknown spec`);
    return { ...key, tags: new Map(tags), privateKey: createPrivateKey(privateKeyPem) };
  });
  return { keys, aliases: snapshot.aliases.map((alias) => ({ ...alias })) };
}
