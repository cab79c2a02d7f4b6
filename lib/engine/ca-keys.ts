/**
 * Where a new CA generation's key lives, and what happens to it when the generation leaves service.
 * caKeyStore `secret`: a new local key, stored as PEM in the CA secret. `kms`: the generation's one
 * KMS key (CaKeyService.keyFor), which self-signs the CA certificate; the secret keeps only its ARN.
 * The choice is made per generation, so switching an authority to `kms` takes effect at its next
 * rotation: N keeps signing with its PEM key until N+1 (a KMS key) takes over. An authority that
 * names no caKeyStore uses `kms` (caKeyStoreOf in lib/config).
 */
import { caKeyStoreOf, type AuthorityConfig } from '../config/index.js';
import { CertrotateError } from '../errors.js';
import type { StoredCa } from '../ports.js';
import { generateCa, parseCertificate, selfSignCa } from '../pki/index.js';
import type { RotationState } from '../rotation/index.js';
import type { EngineDeps } from './deps.js';

/** A new CA generation, ready for CertificateStore.createCa. */
export async function newCaGeneration(deps: EngineDeps, authority: AuthorityConfig, generation: number, now: number): Promise<StoredCa> {
  const request = { authority: authority.name, generation, now, lifetimeMs: authority.rotation.caLifetimeMs, nameConstraints: authority.nameConstraints };
  if (caKeyStoreOf(authority) === 'secret') {
    const ca = await generateCa({ ...request, algorithm: authority.algorithm });
    return { authority: authority.name, generation, certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem };
  }
  if (deps.caKeys === undefined) {
    throw new CertrotateError(
      `authority ${authority.name} keeps its CA keys in KMS (caKeyStore "kms"${authority.caKeyStore === undefined ? ', the default when caKeyStore is absent' : ''}), but this deployment has no KMS access configured: ` +
        `give it KMS access, or set "caKeyStore": "secret" on the authority to keep CA keys as PEM in the CA secret`,
    );
  }
  const { keyArn, signer } = await deps.caKeys.keyFor(authority.name, generation, authority.algorithm);
  const certificate = await selfSignCa(request, signer);
  return { authority: authority.name, generation, certificatePem: certificate.pem, keyArn };
}

/** Disables the KMS key of a retired (or abandoned) generation: it signs nothing from now on. */
export async function disableCaKey(deps: EngineDeps, authority: string, generation: number): Promise<string | undefined> {
  const stored = await deps.certificates.readCa(authority, generation);
  if (stored?.keyArn === undefined || deps.caKeys === undefined) return undefined;
  await deps.caKeys.disable(stored.keyArn);
  return stored.keyArn;
}

/**
 * Run by the daily reconcile over the generations out of service: the key of an abandoned one (a
 * rollback: never trusted again) is disabled; the key of a retired or abandoned one whose
 * certificate has expired is scheduled for deletion (30 days' wait): no leaf it signed can verify
 * any more, so the key has nothing left to prove. A key already pending costs one DescribeKey.
 */
export async function deleteExpiredCaKeys(deps: EngineDeps, authority: string, state: RotationState, now: number): Promise<string[]> {
  if (deps.caKeys === undefined) return [];
  const scheduled: string[] = [];
  for (const generation of [...state.retired, ...state.abandoned]) {
    const stored = await deps.certificates.readCa(authority, generation);
    if (stored?.keyArn === undefined) continue;
    if (state.abandoned.includes(generation)) await deps.caKeys.disable(stored.keyArn);
    let notAfter: number;
    try {
      notAfter = parseCertificate(stored.certificatePem).notAfter;
    } catch {
      continue;
    }
    if (notAfter >= now) continue;
    await deps.caKeys.scheduleDeletion(stored.keyArn);
    scheduled.push(stored.keyArn);
  }
  return scheduled;
}
