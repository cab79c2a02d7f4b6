/**
 * SigV4 verification for every local AWS endpoint: the request's signature is recomputed with
 * @smithy/signature-v4 (the SDK's own signer) from the secret key of the identity its credential
 * scope names, and compared in constant time. Header-signed requests are checked here; the local
 * STS checks presigned URLs with `presignedRequest` and `sameSignature` below.
 */
import { sigv4Signer } from '../../aws/sigv4.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpRequest } from '@smithy/protocol-http';
import { AwsError } from './aws-error.js';
import { headerValue, parseAmzDate } from './http.js';

/** A key pair a local endpoint accepts; temporary ones carry a session token and an end. */
export interface SigningIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Epoch ms after which requests signed with it are refused (ExpiredToken). */
  expiresAt?: number;
}

/** The error codes a service answers for signature problems, and with which HTTP status. */
export interface SignatureErrorCodes {
  missing: string;
  incomplete: string;
  unknownKey: string;
  mismatch: string;
  /** 403 for most services; DynamoDB answers 400. */
  status: number;
}

/** JSON and REST-JSON services (Secrets Manager, EKS). */
export const JSON_SIGNATURE_ERRORS: SignatureErrorCodes = {
  missing: 'MissingAuthenticationTokenException',
  incomplete: 'IncompleteSignatureException',
  unknownKey: 'UnrecognizedClientException',
  mismatch: 'InvalidSignatureException',
  status: 403,
};

/** What an endpoint accepts: its service, its region, its identities, its error codes. */
export interface SignatureCheck {
  service: string;
  /** The region the endpoint serves; undefined accepts any valid region the scope names (the local STS serves every region). */
  region: string | undefined;
  identityFor: (accessKeyId: string) => SigningIdentity | undefined;
  codes: SignatureErrorCodes;
  /** S3 only: the client may send `x-amz-content-sha256: UNSIGNED-PAYLOAD` (the body is then not hashed into the signature). */
  unsignedPayload?: boolean;
}

/** How far the signing time may be from the server's clock, as AWS allows. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
export const MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.';
const VALID_REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

interface ParsedAuthorization {
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

function parseAuthorization(header: string): ParsedAuthorization | undefined {
  const match = /^AWS4-HMAC-SHA256 (.*)$/.exec(header.trim());
  if (match?.[1] === undefined) return undefined;
  const parts = new Map<string, string>();
  for (const part of match[1].split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) parts.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = parts.get('Credential')?.split('/');
  const signedHeaders = parts.get('SignedHeaders');
  const signature = parts.get('Signature');
  if (credential?.length !== 5 || signedHeaders === undefined || signature === undefined) return undefined;
  const [accessKeyId, shortDate, region, service, terminator] = credential;
  if (accessKeyId === undefined || shortDate === undefined || region === undefined || service === undefined || terminator !== 'aws4_request') {
    return undefined;
  }
  return { accessKeyId, shortDate, region, service, signedHeaders: signedHeaders.split(';'), signature };
}

/** Constant-time comparison of two signatures. */
export function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A URL's query as the signer takes it, without `omit` (a presigned URL's own signature parameters). */
export function queryRecord(params: URLSearchParams, omit: ReadonlySet<string> = new Set()): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    if (omit.has(key)) continue;
    const all = params.getAll(key);
    query[key] = all.length === 1 && all[0] !== undefined ? all[0] : all;
  }
  return query;
}

/** The signed headers' values; a signed header the request lacks is `code` (the service's "incomplete" or "mismatch"). */
export function signedHeaderValues(req: IncomingMessage, names: readonly string[], code: string, status: number): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = headerValue(req, name);
    if (value === undefined) throw new AwsError(code, `Signed header ${name} is missing from the request.`, status);
    headers[name] = value;
  }
  return headers;
}

/** The signer escapes the path itself, so it gets the decoded form. */
function decodePath(pathname: string, codes: SignatureErrorCodes): string {
  try {
    return pathname.split('/').map((segment) => decodeURIComponent(segment)).join('/');
  } catch {
    throw new AwsError(codes.mismatch, 'The request path is not validly percent-encoded.', codes.status);
  }
}

/** The header's parts, once it is known to name a credential scope, a date and signed headers (host among them). */
function readAuthorization(req: IncomingMessage, codes: SignatureErrorCodes): { auth: ParsedAuthorization; amzDate: string; signingMs: number } {
  const authorization = headerValue(req, 'authorization');
  if (authorization === undefined) throw new AwsError(codes.missing, 'Missing Authentication Token', codes.status);
  const auth = parseAuthorization(authorization);
  if (auth === undefined) {
    throw new AwsError(
      codes.incomplete,
      `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${authorization.split(' ')[0] ?? ''}`,
      codes.status,
    );
  }
  const amzDate = headerValue(req, 'x-amz-date');
  const signingMs = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (amzDate === undefined || signingMs === undefined) {
    throw new AwsError(codes.incomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", codes.status);
  }
  if (!auth.signedHeaders.includes('host')) {
    throw new AwsError(codes.incomplete, "'Host' must be a 'SignedHeader' in the AWS Authorization.", codes.status);
  }
  return { auth, amzDate, signingMs };
}

/** The credential scope names this endpoint (date, region, service) and the signing time is current. */
function checkScope(auth: ParsedAuthorization, amzDate: string, signingMs: number, check: SignatureCheck, nowMs: number): string {
  const { codes } = check;
  if (auth.shortDate !== amzDate.slice(0, 8)) {
    throw new AwsError(codes.mismatch, `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.shortDate}' != '${amzDate.slice(0, 8)}'`, codes.status);
  }
  const region = check.region ?? auth.region;
  if (auth.region !== region || !VALID_REGION.test(region)) {
    throw new AwsError(codes.mismatch, `Credential should be scoped to a valid region, not '${auth.region}'.`, codes.status);
  }
  if (auth.service !== check.service) {
    throw new AwsError(codes.mismatch, `Credential should be scoped to correct service: '${check.service}'.`, codes.status);
  }
  if (Math.abs(nowMs - signingMs) > MAX_CLOCK_SKEW_MS) {
    throw new AwsError(codes.mismatch, `Signature expired: ${amzDate} is outside the allowed skew of 5 min from the server time.`, codes.status);
  }
  return region;
}

/** The identity the scope names, with the session token it was issued (signed, when sent), still current. */
function checkIdentity(req: IncomingMessage, auth: ParsedAuthorization, check: SignatureCheck, nowMs: number): SigningIdentity {
  const { codes } = check;
  const identity = check.identityFor(auth.accessKeyId);
  const sessionToken = headerValue(req, 'x-amz-security-token');
  if (
    identity === undefined ||
    sessionToken !== identity.sessionToken ||
    (sessionToken !== undefined && !auth.signedHeaders.includes('x-amz-security-token'))
  ) {
    throw new AwsError(codes.unknownKey, 'The security token included in the request is invalid.', codes.status);
  }
  if (identity.expiresAt !== undefined && nowMs >= identity.expiresAt) {
    throw new AwsError('ExpiredToken', 'The security token included in the request is expired', codes.status);
  }
  return identity;
}

/**
 * Verifies a header-signed SigV4 request by recomputing its signature with the identity its
 * credential scope names. Returns the identity that signed; throws an AwsError in the service's
 * codes otherwise.
 */
export async function verifySignature(req: IncomingMessage, body: Buffer, check: SignatureCheck, nowMs: number): Promise<SigningIdentity> {
  const { codes } = check;
  const { auth, amzDate, signingMs } = readAuthorization(req, codes);
  const identity = checkIdentity(req, auth, check, nowMs);
  const region = checkScope(auth, amzDate, signingMs, check, nowMs);
  const claimedHash = headerValue(req, 'x-amz-content-sha256');
  const unsigned = check.unsignedPayload === true && claimedHash === 'UNSIGNED-PAYLOAD';
  if (claimedHash !== undefined && !unsigned && claimedHash !== createHash('sha256').update(body).digest('hex')) {
    throw new AwsError(codes.mismatch, 'The provided x-amz-content-sha256 header does not match the request body.', codes.status);
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  const request = new HttpRequest({
    method: req.method ?? 'GET',
    protocol: 'http:',
    hostname: '127.0.0.1',
    path: decodePath(url.pathname, codes),
    query: queryRecord(url.searchParams),
    headers: signedHeaderValues(req, auth.signedHeaders, codes.incomplete, codes.status),
    body,
  });
  const signed = await cachedSigner(check.service, region, identity).sign(request, {
    signingDate: new Date(signingMs),
    signableHeaders: new Set(auth.signedHeaders),
  });
  const expected = parseAuthorization(String(signed.headers['authorization']))?.signature ?? '';
  if (!sameSignature(expected, auth.signature)) throw new AwsError(codes.mismatch, MISMATCH_MESSAGE, codes.status);
  return identity;
}

/**
 * Signers by service, region and identity, reused: a signer keeps the keys it derived for a day's
 * scope, which a new signer per request derived again (four HMACs) for every call. Bounded.
 */
const SIGNERS = new Map<string, ReturnType<typeof sigv4Signer>>();

function cachedSigner(service: string, region: string, identity: SigningIdentity): ReturnType<typeof sigv4Signer> {
  const key = JSON.stringify([service, region, identity.accessKeyId, identity.secretAccessKey, identity.sessionToken ?? '']);
  let signer = SIGNERS.get(key);
  if (signer === undefined) {
    if (SIGNERS.size >= 100) SIGNERS.clear();
    signer = sigv4Signer(service, region, identity);
    SIGNERS.set(key, signer);
  }
  return signer;
}

/** The signature a presigned GET should carry, recomputed; `signedHeaders` must be what the signer signs. */
export async function presignedSignature(
  req: IncomingMessage,
  query: Record<string, string | string[]>,
  signing: { service: string; region: string; identity: SigningIdentity; signedHeaders: readonly string[]; signingMs: number; expiresIn: number },
  missingHeaderCode: string,
): Promise<{ signature: unknown; signedHeaders: unknown }> {
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'http:',
    hostname: '127.0.0.1',
    path: '/',
    query,
    headers: signedHeaderValues(req, signing.signedHeaders, missingHeaderCode, 403),
  });
  const signer = sigv4Signer(signing.service, signing.region, signing.identity);
  const presigned = await signer.presign(request, { signingDate: new Date(signing.signingMs), expiresIn: signing.expiresIn });
  return { signature: presigned.query?.['X-Amz-Signature'], signedHeaders: presigned.query?.['X-Amz-SignedHeaders'] };
}
