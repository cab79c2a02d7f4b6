/**
 * How the AWS trust target adapters (S3, ELBv2, API Gateway, ACM) turn an SDK failure into the
 * consumer port's errors: no answer, throttling or a 5xx after the SDK's retries is
 * ConsumerUnavailableError (the target's gates wait); any other answer is a refusal that retrying
 * will not change, ConsumerRejectedError. Messages name the service and the target.
 */
import { ConsumerRejectedError, ConsumerUnavailableError } from '../ports.js';

interface SdkFailure {
  name?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'TooManyRequestsException', 'SlowDown', 'RequestLimitExceeded', 'PriorRequestNotComplete']);

/** `ELBv2 trust store certrotate-clients (eu-west-1)`: how a failure names its target. */
export interface TargetName {
  service: string;
  target: string;
  region: string;
}

export function targetFailure(error: unknown, where: TargetName): Error {
  if (!(error instanceof Error)) return new ConsumerUnavailableError(where.target, where.region, undefined, 1, String(error));
  const failure = error as SdkFailure;
  const status = failure.$metadata?.httpStatusCode;
  const attempts = failure.$metadata?.attempts ?? 1;
  const code = failure.name ?? 'Error';
  if (status === undefined || status >= 500 || THROTTLING.has(code) || status === 429) {
    const unavailable = new ConsumerUnavailableError(where.target, where.region, status, attempts, `${code}: ${failure.message ?? ''}`, { cause: error });
    unavailable.message = `${where.service} ${where.target} (${where.region}) is unavailable after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${code}: ${failure.message ?? ''}`;
    return unavailable;
  }
  return new ConsumerRejectedError(where.target, status, code, `${where.service} ${where.target} (${where.region}) refused: ${code}: ${failure.message ?? ''}`);
}

/** Runs one call, translating its failure. */
export async function onTarget<T>(where: TargetName, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw targetFailure(error, where);
  }
}
