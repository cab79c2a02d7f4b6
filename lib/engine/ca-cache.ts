/**
 * What a run derives from a stored CA, kept per process (a warm Lambda's invocations, a
 * simulation's ticks): the parsed certificate and the issuer (parsed key, per-CA parts). Every tick
 * reads the same few CAs.
 */
import type { CaKeyService, StoredCa } from '../ports.js';
import { Issuer, LruMap, parseCertificate, type Certificate } from '../pki/index.js';
import { StoredDataError } from '../errors.js';

/** CA certificates parsed once per process: every tick reads the same few. */
const PARSED_CAS = new LruMap<string, Certificate>(1000);

export function parsedCa(pem: string): Certificate {
  return PARSED_CAS.getOrSet(pem, () => parseCertificate(pem));
}

/** Issuers (parsed key and per-CA parts) kept per process, keyed by the stored CA. */
const ISSUERS = new LruMap<string, Issuer>(100);
/** Issuers signing through KMS, per key service (a signer calls through its own service). */
const KMS_ISSUERS = new WeakMap<CaKeyService, LruMap<string, Issuer>>();

/** The issuer of a stored CA: its PEM key, or its KMS key (signing through `caKeys`). */
export function issuerOf(stored: StoredCa, certificate: Certificate, caKeys: CaKeyService | undefined): Issuer {
  const { keyArn, privateKeyPem } = stored;
  if (keyArn !== undefined && caKeys !== undefined) {
    let issuers = KMS_ISSUERS.get(caKeys);
    if (issuers === undefined) {
      issuers = new LruMap<string, Issuer>(100);
      KMS_ISSUERS.set(caKeys, issuers);
    }
    return issuers.getOrSet(`${stored.certificatePem}\n${keyArn}`, () => new Issuer(certificate, caKeys.signerFor(keyArn, certificate.publicKey)));
  }
  if (privateKeyPem === undefined) throw new StoredDataError(`CA generation ${stored.generation} of authority ${stored.authority} is stored with no key and no KMS key ARN`);
  return ISSUERS.getOrSet(`${stored.certificatePem}\n${privateKeyPem}`, () => Issuer.fromPem(stored.certificatePem, privateKeyPem));
}
