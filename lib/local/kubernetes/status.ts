/** Errors in the Kubernetes API's own shape: a `kind: Status` object. */
import type { Json } from '../kit/json-protocol.js';
import type { ResourceType } from './resources.js';

export interface Cause {
  reason: string;
  message: string;
  field: string;
}

export class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Json,
  ) {
    super(message);
  }

  body(): Json {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details === undefined ? {} : { details: this.details }),
      code: this.code,
    };
  }
}

export const notFound = (plural: string, name: string): StatusError =>
  new StatusError(404, 'NotFound', `${plural} "${name}" not found`, { name, kind: plural });
export const badRequest = (message: string): StatusError => new StatusError(400, 'BadRequest', message);
export const conflict = (plural: string, name: string, group: string): StatusError =>
  new StatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${group === '' ? plural : `${plural}.${group}`} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, ...(group === '' ? {} : { group }), kind: plural },
  );

export function invalid(type: ResourceType, name: string, causes: Cause[]): StatusError {
  return new StatusError(
    422,
    'Invalid',
    `${type.kind} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
    { name, ...(type.group === '' ? {} : { group: type.group }), kind: type.kind, causes },
  );
}
