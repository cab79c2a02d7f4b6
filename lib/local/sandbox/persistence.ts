/**
 * What the sandbox keeps in its directory so that a restart resumes: dynalite's LevelDB (`dynamodb/`,
 * written by dynalite itself), the local Secrets Manager's secrets (`secrets.json`) and the
 * simulated instant and table name (`sandbox.json`). Files are replaced atomically (write, rename).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from '../../errors.js';
import type { SecretsSnapshot } from '../secrets-manager/snapshot.js';

export interface SandboxMeta {
  format: 'certrotate-sandbox/1';
  tableName: string;
  /** The simulated instant when this was written, epoch ms. */
  simulatedNow: number;
}

export interface SandboxFiles {
  dynamoPath: string;
  meta: SandboxMeta | undefined;
  secrets: SecretsSnapshot | undefined;
  save(meta: SandboxMeta, secrets: SecretsSnapshot): void;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ValidationError(`${path} cannot be read (${error instanceof Error ? error.message : String(error)}): remove the sandbox directory to start afresh`);
  }
}

function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

export function sandboxFiles(dir: string): SandboxFiles {
  mkdirSync(dir, { recursive: true });
  const metaPath = join(dir, 'sandbox.json');
  const secretsPath = join(dir, 'secrets.json');
  const meta = existsSync(metaPath) ? (readJson(metaPath) as SandboxMeta) : undefined;
  if (meta !== undefined && (meta.format !== 'certrotate-sandbox/1' || typeof meta.tableName !== 'string' || typeof meta.simulatedNow !== 'number')) {
    throw new ValidationError(`${metaPath} is not a sandbox state this version wrote: remove the sandbox directory to start afresh`);
  }
  const secrets = existsSync(secretsPath) ? (readJson(secretsPath) as SecretsSnapshot) : undefined;
  let lastSecrets = '';
  return {
    dynamoPath: join(dir, 'dynamodb'),
    meta,
    secrets,
    save(next, snapshot) {
      const text = JSON.stringify(snapshot);
      if (text !== lastSecrets) writeAtomically(secretsPath, text);
      lastSecrets = text;
      writeAtomically(metaPath, `${JSON.stringify(next)}\n`);
    },
  };
}
