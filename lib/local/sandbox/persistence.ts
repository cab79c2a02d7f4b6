/**
 * What the sandbox keeps in its directory so that a restart resumes: dynalite's LevelDB (`dynamodb/`,
 * written by dynalite itself), the local Secrets Manager's secrets (`secrets.json`), the local KMS's
 * keys, aliases, tags and states (`kms.json`: it holds the CA keys' private halves, as only a local
 * emulator may), the local leaf bucket's objects with every version id, ETag and Last-Modified
 * (`leaf-bucket.json`, only when an authority has `leafStore: s3`) and the simulated instant and
 * table name (`sandbox.json`). The three files with key material (leaf keys, CA keys kept as PEM,
 * KMS keys) are mode 0600. Files are replaced atomically (write, rename). What the local EKS
 * clusters and AWS trust targets hold is not kept: after a restart the engine finds them empty and
 * publishes again, as to a recreated cluster.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from '../../errors.js';
import type { KmsSnapshot } from '../kms/snapshot.js';
import type { S3Snapshot } from '../s3/snapshot.js';
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
  kms: KmsSnapshot | undefined;
  /** The leaf bucket's objects, when a sandbox with a leaf bucket saved them. */
  leafObjects: S3Snapshot | undefined;
  save(meta: SandboxMeta, state: { secrets: SecretsSnapshot; kms: KmsSnapshot; leafObjects?: S3Snapshot | undefined }): void;
  /** Gives up the directory (removes the lock). */
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One sandbox per directory: a second one would find dynalite's LevelDB locked (and crash on it). */
function lock(dir: string): string {
  const path = join(dir, 'sandbox.pid');
  const holder = existsSync(path) ? Number(readFileSync(path, 'utf8').trim()) : undefined;
  if (holder !== undefined && Number.isInteger(holder) && holder !== process.pid && alive(holder)) {
    throw new ValidationError(`${dir} is in use by another sandbox (pid ${holder}): stop it, or pass another --dir`);
  }
  writeFileSync(path, `${process.pid}\n`);
  return path;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ValidationError(`${path} cannot be read (${error instanceof Error ? error.message : String(error)}): remove the sandbox directory to start afresh`);
  }
}

function writeAtomically(path: string, text: string, mode = 0o644): void {
  writeFileSync(`${path}.tmp`, text, { mode });
  chmodSync(`${path}.tmp`, mode);
  renameSync(`${path}.tmp`, path);
}

export function sandboxFiles(dir: string): SandboxFiles {
  mkdirSync(dir, { recursive: true });
  const lockPath = lock(dir);
  const metaPath = join(dir, 'sandbox.json');
  const secretsPath = join(dir, 'secrets.json');
  const meta = existsSync(metaPath) ? (readJson(metaPath) as SandboxMeta) : undefined;
  if (meta !== undefined && (meta.format !== 'certrotate-sandbox/1' || typeof meta.tableName !== 'string' || typeof meta.simulatedNow !== 'number')) {
    throw new ValidationError(`${metaPath} is not a sandbox state this version wrote: remove the sandbox directory to start afresh`);
  }
  const kmsPath = join(dir, 'kms.json');
  const secrets = existsSync(secretsPath) ? (readJson(secretsPath) as SecretsSnapshot) : undefined;
  const kms = existsSync(kmsPath) ? (readJson(kmsPath) as KmsSnapshot) : undefined;
  const leafObjectsPath = join(dir, 'leaf-bucket.json');
  const leafObjects = existsSync(leafObjectsPath) ? (readJson(leafObjectsPath) as S3Snapshot) : undefined;
  const last = { secrets: '', kms: '', leafObjects: '' };
  return {
    dynamoPath: join(dir, 'dynamodb'),
    meta,
    secrets,
    kms,
    leafObjects,
    save(next, state) {
      const texts = { secrets: JSON.stringify(state.secrets), kms: JSON.stringify(state.kms), leafObjects: state.leafObjects === undefined ? '' : JSON.stringify(state.leafObjects) };
      if (texts.secrets !== last.secrets) writeAtomically(secretsPath, texts.secrets, 0o600);
      if (texts.kms !== last.kms) writeAtomically(kmsPath, texts.kms, 0o600);
      if (texts.leafObjects !== '' && texts.leafObjects !== last.leafObjects) writeAtomically(leafObjectsPath, texts.leafObjects, 0o600);
      Object.assign(last, texts);
      writeAtomically(metaPath, `${JSON.stringify(next)}\n`);
    },
    release: () => rmSync(lockPath, { force: true }),
  };
}
