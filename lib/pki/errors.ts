import { CertrotateError } from '../errors.js';

/**
 * Typed PKI errors. Messages name the certificate (subject, key id, dates) and what to do;
 * they never contain key material or the raw PEM.
 */
export class PkiError extends CertrotateError {
  override name = 'PkiError';
}

/** The input is not the PEM/DER expected (empty, truncated, bad base64, the wrong kind of block). */
export class InvalidPemError extends PkiError {
  override name = 'InvalidPemError';
}

/** The private key does not belong to the certificate. */
export class KeyMismatchError extends PkiError {
  override name = 'KeyMismatchError';
}

/** A key whose type or size certrotate refuses (e.g. RSA below 2048 bits). */
export class UnsupportedKeyError extends PkiError {
  override name = 'UnsupportedKeyError';
}

/** No certificate in the bundle (or chain) issued this certificate. */
export class UnknownIssuerError extends PkiError {
  override name = 'UnknownIssuerError';
}

/** The signature does not verify under the issuer's key. */
export class BadSignatureError extends PkiError {
  override name = 'BadSignatureError';
}

/** The certificate's notAfter is before the instant it was checked at. */
export class CertificateExpiredError extends PkiError {
  override name = 'CertificateExpiredError';
}

/** The certificate's notBefore is after the instant it was checked at. */
export class CertificateNotYetValidError extends PkiError {
  override name = 'CertificateNotYetValidError';
}

/** A certificate used as an issuer lacks CA:true or keyCertSign. */
export class NotACaError extends PkiError {
  override name = 'NotACaError';
}

/** A chain longer than an issuer's pathLenConstraint allows. */
export class PathLengthError extends PkiError {
  override name = 'PathLengthError';
}

/** The leaf's extendedKeyUsage does not allow the purpose it was checked for. */
export class WrongPurposeError extends PkiError {
  override name = 'WrongPurposeError';
}
