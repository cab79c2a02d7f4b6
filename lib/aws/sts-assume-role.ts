/**
 * STS AssumeRole for EKS targets that name a `roleArn`: the cluster's bearer token is then signed
 * with the role's temporary credentials, so the cluster sees `assumed-role/<role>/<session>`.
 *
 * The call is the SDK's AssumeRoleCommand (the Query protocol, signed and parsed by
 * @aws-sdk/client-sts) against the regional endpoint unless another is given, signed at the
 * caller's clock. The SDK's errors become StsError (code, HTTP status, whether retrying can help),
 * and RoleAccessDeniedError for `AccessDenied`. No message ever carries a secret access key or
 * session token.
 */
import type * as StsSdk from '@aws-sdk/client-sts';
import type { Credentials, STSClient } from '@aws-sdk/client-sts';
import { CertrotateError, ValidationError } from '../errors.js';
import type { Clock } from '../ports.js';
import { ROLE_ARN } from '../config/eks-targets.js';
import type { AwsCredentials, CredentialSource } from './eks-token.js';

/** The shortest session STS grants; the provider below refreshes well before it ends. */
export const ASSUME_ROLE_DURATION_SECONDS = 900;
/** Cached role credentials are replaced this long before they expire. */
export const ROLE_CREDENTIALS_REFRESH_MARGIN_MS = 5 * 60_000;
export const DEFAULT_ROLE_SESSION_NAME = 'certrotate';
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const ERROR_CODE = /^[A-Za-z][\w.]{0,99}$/;
/** Codes for which a later attempt (with fresh base credentials, after a pause) may succeed. */
const RETRYABLE_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'InternalFailure',
  'InternalError',
  'ExpiredToken',
  'NetworkError',
  'Timeout',
]);

export interface AssumeRoleRequest {
  roleArn: string;
  /** `RoleSessionName`: 2-64 of letters, digits and `_+=,.@-`; the cluster sees it in the caller ARN. */
  sessionName: string;
  /** The identity that assumes the role (the functions' own role). */
  credentials: AwsCredentials;
  /** The region whose STS endpoint is called (and the SigV4 scope). */
  region: string;
  /** The signing instant, epoch ms. */
  now: number;
  /** The regional STS endpoint unless overridden (a local STS, a VPC endpoint). */
  endpoint?: string;
  /** Default 900 (the minimum STS allows). */
  durationSeconds?: number;
  /** Default 10 s. */
  timeoutMs?: number;
}

/** Temporary credentials; compatible with AwsCredentials. */
export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** STS did not hand out credentials. `code` is STS's error code, or NetworkError/Timeout/MalformedResponse. */
export class StsError extends CertrotateError {
  override name = 'StsError';
  constructor(
    readonly roleArn: string,
    readonly code: string,
    /** The HTTP status, when STS answered. */
    readonly status: number | undefined,
    /** Whether a later attempt may succeed (throttling, STS unavailable, network). */
    readonly retryable: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** STS answered AccessDenied: the role's trust policy, or the caller's sts:AssumeRole grant, does not allow it. */
export class RoleAccessDeniedError extends StsError {
  override name = 'RoleAccessDeniedError';
}

type StsModule = typeof StsSdk;

/**
 * The STS client is loaded on the first role to assume, not at cold start: only EKS targets with a
 * `roleArn` need it, and the Lambda bundles leave it out (infra/bundling.ts) to stay within their
 * size budget; on Lambda the runtime's own SDK provides it.
 */
let stsModule: Promise<StsModule> | undefined;
function loadSts(): Promise<StsModule> {
  stsModule ??= import('@aws-sdk/client-sts');
  return stsModule;
}

interface StsClientOptions {
  region: string;
  /** The identity that signs (the caller's own, not the SDK's default chain). */
  credentials: AwsCredentials;
  /** The signing instant, epoch ms: the caller's clock, which may not be the wall clock. */
  signingTime: number;
  /** The regional STS endpoint unless given (a local STS, a VPC endpoint). */
  endpoint?: string;
}

/**
 * An STS client for one call signed with `credentials` at `signingTime` (the SDK signs at the wall
 * clock plus `systemClockOffset`). One attempt: the caller decides whether a failure is retried.
 */
function createStsClient(sts: StsModule, options: StsClientOptions): STSClient {
  const { accessKeyId, secretAccessKey, sessionToken } = options.credentials;
  return new sts.STSClient({
    region: options.region,
    credentials: { accessKeyId, secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) },
    systemClockOffset: options.signingTime - Date.now(),
    maxAttempts: 1,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
  });
}

/** Calls STS AssumeRole once. Throws StsError (RoleAccessDeniedError for AccessDenied), ValidationError for bad input. */
export async function assumeRole(request: AssumeRoleRequest): Promise<RoleCredentials> {
  const durationSeconds = checkRequest(request);
  const sts = await loadSts();
  const client = createStsClient(sts, {
    region: request.region,
    credentials: request.credentials,
    signingTime: request.now,
    ...(request.endpoint === undefined ? {} : { endpoint: request.endpoint }),
  });
  try {
    const answer = await client.send(
      new sts.AssumeRoleCommand({ RoleArn: request.roleArn, RoleSessionName: request.sessionName, DurationSeconds: durationSeconds }),
      { abortSignal: AbortSignal.timeout(request.timeoutMs ?? 10_000) },
    );
    return credentialsOf(answer.Credentials, request);
  } catch (error) {
    throw error instanceof StsError ? error : stsErrorOf(error, request, sts);
  } finally {
    client.destroy();
  }
}

/** The session duration, once the request is known to be one STS can grant. Throws ValidationError. */
function checkRequest(request: AssumeRoleRequest): number {
  const { roleArn, sessionName } = request;
  const durationSeconds = request.durationSeconds ?? ASSUME_ROLE_DURATION_SECONDS;
  if (!ROLE_ARN.pattern.test(roleArn)) throw new ValidationError(`cannot assume "${roleArn}": it ${ROLE_ARN.hint}`);
  if (!SESSION_NAME.test(sessionName)) {
    throw new ValidationError(`role session name "${sessionName}" must be 2-64 letters, digits or _+=,.@-`);
  }
  if (!Number.isInteger(durationSeconds) || durationSeconds < 900 || durationSeconds > 43_200) {
    throw new ValidationError(`the role session duration must be a whole number of seconds within 900-43200, got ${durationSeconds}`);
  }
  return durationSeconds;
}

/** The credentials of a successful answer; a MalformedResponse StsError when they are incomplete or already over. */
function credentialsOf(credentials: Credentials | undefined, request: AssumeRoleRequest): RoleCredentials {
  const malformed = (detail: string) => newStsError(request, 'MalformedResponse', 200, detail);
  // The messages name fields only, never their contents.
  if (credentials === undefined) throw malformed('the answer holds no Credentials');
  const { AccessKeyId: accessKeyId, SecretAccessKey: secretAccessKey, SessionToken: sessionToken, Expiration: expiration } = credentials;
  if (accessKeyId === undefined || !/^[A-Z0-9]{16,128}$/.test(accessKeyId)) throw malformed('AccessKeyId is not an access key id');
  if (!secretAccessKey || !sessionToken) throw malformed('SecretAccessKey or SessionToken is missing');
  if (!(expiration instanceof Date) || Number.isNaN(expiration.getTime())) throw malformed('Expiration is not an instant');
  if (expiration.getTime() <= request.now) {
    throw malformed(`the credentials expired at ${expiration.toISOString()}, before they were asked for`);
  }
  return { accessKeyId, secretAccessKey, sessionToken, expiration };
}

/** What the SDK threw, as an StsError: STS's own answer, an unreadable one, or none at all. */
function stsErrorOf(error: unknown, request: AssumeRoleRequest, sts: StsModule): StsError {
  const detail = error instanceof Error ? error.message : String(error);
  if (error instanceof sts.STSServiceException) {
    const status = error.$metadata.httpStatusCode;
    const code = ERROR_CODE.test(error.name) && error.name !== 'Unknown' ? error.name : `HTTP${status ?? ''}`;
    return newStsError(request, code, status, detail, error);
  }
  const status = httpStatusOf(error);
  if (status !== undefined) {
    const code = status >= 200 && status < 300 ? 'MalformedResponse' : `HTTP${status}`;
    return newStsError(request, code, status, 'the answer is not the XML STS sends', error);
  }
  const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
  const where = request.endpoint ?? `the STS of ${request.region}`;
  return newStsError(request, timedOut ? 'Timeout' : 'NetworkError', undefined, `no answer from ${where}: ${detail}`, error);
}

/** The HTTP status the SDK attached to an error when STS answered something it could not read. */
function httpStatusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = error.$metadata;
  if (typeof metadata !== 'object' || metadata === null || !('httpStatusCode' in metadata)) return undefined;
  return typeof metadata.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined;
}

function newStsError(request: AssumeRoleRequest, code: string, status: number | undefined, detail: string, cause?: unknown): StsError {
  const { roleArn } = request;
  const text = redact(detail, [request.credentials.secretAccessKey, request.credentials.sessionToken]);
  const options = cause === undefined ? undefined : { cause };
  if (code === 'AccessDenied') {
    return new RoleAccessDeniedError(
      roleArn,
      code,
      status,
      false,
      `STS refused to let certrotate assume role ${roleArn} (AccessDenied: ${text}). The role's trust policy must allow sts:AssumeRole ` +
        "from the functions' role, and the functions' role must be granted sts:AssumeRole on it.",
      options,
    );
  }
  const retryable = RETRYABLE_CODES.has(code) || (status !== undefined && (status >= 500 || status === 429));
  const where = status === undefined ? code : `${code}, HTTP ${status}`;
  return new StsError(roleArn, code, status, retryable, `STS AssumeRole of ${roleArn} failed (${where}): ${text}`, options);
}

export interface RoleCredentialsOptions {
  /** The region whose STS endpoint is called (the functions' own). */
  region: string;
  endpoint?: string;
  sessionName?: string;
  durationSeconds?: number;
  timeoutMs?: number;
  /** Default 5 minutes. */
  refreshMarginMs?: number;
}

/**
 * A caching AssumeRole provider, in the shape EksTokenSource's `credentialsForRole` takes: per
 * role, credentials are reused until `refreshMarginMs` before they expire; concurrent callers
 * share one request; failures are not cached.
 */
export function roleCredentials(base: CredentialSource, clock: Clock, options: RoleCredentialsOptions): (roleArn: string) => () => Promise<AwsCredentials> {
  const margin = options.refreshMarginMs ?? ROLE_CREDENTIALS_REFRESH_MARGIN_MS;
  const cache = new Map<string, RoleCredentials>();
  const pending = new Map<string, Promise<RoleCredentials>>();
  const fetchFor = async (roleArn: string): Promise<RoleCredentials> => {
    const credentials = typeof base === 'function' ? await base() : base;
    const fresh = await assumeRole({
      roleArn,
      sessionName: options.sessionName ?? DEFAULT_ROLE_SESSION_NAME,
      credentials,
      region: options.region,
      now: clock.now(),
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.durationSeconds === undefined ? {} : { durationSeconds: options.durationSeconds }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
    cache.set(roleArn, fresh);
    return fresh;
  };
  return (roleArn) => async () => {
    const cached = cache.get(roleArn);
    if (cached !== undefined && clock.now() < cached.expiration.getTime() - margin) return cached;
    let flight = pending.get(roleArn);
    if (flight === undefined) {
      flight = fetchFor(roleArn).finally(() => pending.delete(roleArn));
      pending.set(roleArn, flight);
    }
    return flight;
  };
}

function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text.length > 500 ? `${text.slice(0, 500)}...` : text;
  for (const secret of secrets) {
    if (secret !== undefined && secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out;
}
