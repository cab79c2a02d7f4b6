/** The local Secrets Manager's secrets as JSON-safe data and back (Maps and Sets become arrays). */
import { ValidationError } from '../../errors.js';
import type { Secret, SecretVersion } from './model.js';

type VersionJson = Omit<SecretVersion, 'stages'> & { stages: string[] };
type SecretJson = Omit<Secret, 'tags' | 'versions'> & { tags: [string, string][]; versions: VersionJson[] };

export interface SecretsSnapshot {
  format: 'certrotate-local-secrets/1';
  secrets: SecretJson[];
}

export function snapshotSecrets(secrets: readonly Secret[]): SecretsSnapshot {
  return {
    format: 'certrotate-local-secrets/1',
    secrets: secrets.map((secret) => ({
      ...secret,
      tags: [...secret.tags.entries()],
      versions: [...secret.versions.values()].map((version) => ({ ...version, stages: [...version.stages] })),
    })),
  };
}

export function restoreSecrets(snapshot: SecretsSnapshot): Secret[] {
  if (snapshot.format !== 'certrotate-local-secrets/1' || !Array.isArray(snapshot.secrets)) {
    throw new ValidationError('the local secrets snapshot is not one this version wrote (format certrotate-local-secrets/1)');
  }
  return snapshot.secrets.map((secret) => ({
    ...secret,
    tags: new Map(secret.tags),
    versions: new Map(secret.versions.map((version) => [version.id, { ...version, stages: new Set(version.stages) }])),
  }));
}
