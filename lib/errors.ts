/**
 * The error hierarchy every layer throws. Each class sets `name`, keeps `cause`, and carries a
 * message that tells an operator what to do. No message ever contains private key material.
 */
export class CertrotateError extends Error {
  override name = 'CertrotateError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A conditional write lost a race: re-read and decide again. */
export class ConflictError extends CertrotateError {
  override name = 'ConflictError';
}

/** Something the caller named does not exist (an authority, a secret, a CA generation). */
export class NotFoundError extends CertrotateError {
  override name = 'NotFoundError';
}

/** Input from outside (an event, a configuration file, a request) failed validation. */
export class ValidationError extends CertrotateError {
  override name = 'ValidationError';
  /** Every problem found, each `path: message` (the message shows only the first ones). */
  problems?: readonly string[];
}

/** An operator command is not allowed in the current state (e.g. a rotation already running). */
export class CommandRefusedError extends CertrotateError {
  override name = 'CommandRefusedError';
}

/**
 * Something certrotate keeps (a CA or bundle secret, the state item) cannot be read as certrotate
 * wrote it: edited or corrupted out of band. Not the caller's fault and not retryable: an
 * operator restores or fixes what the message names.
 */
export class StoredDataError extends CertrotateError {
  override name = 'StoredDataError';
}

/**
 * The current CA's secret is gone (force-deleted): its certificate, taken from the published bundle,
 * stays trusted, but nothing can be signed with it. An emergency rotation is the way out.
 */
export class LostCaError extends StoredDataError {
  override name = 'LostCaError';
  constructor(
    readonly generation: number,
    message: string,
  ) {
    super(message);
  }
}
