/**
 * GetCallerIdentity through a presigned URL, the way an EKS cluster's authenticator replays a
 * bearer token: the signature is recomputed, the token's 15-minute life is checked (STS ignores
 * X-Amz-Expires for these), and every signed header (`x-k8s-aws-id`) must be the one sent.
 */
import type { IncomingMessage } from 'node:http';
import { EKS_TOKEN_LIFETIME_MS, STS_API_VERSION } from '../../aws/eks-token.js';
import { AwsError } from '../kit/aws-error.js';
import { parseAmzDate } from '../kit/http.js';
import { MAX_CLOCK_SKEW_MS, MISMATCH_MESSAGE, presignedSignature, queryRecord, sameSignature } from '../kit/sigv4.js';
import { PRESIGN_PARAMS, accountOf, type KnownIdentity, type StsAnswer } from './wire.js';

interface PresignedParts {
  accessKeyId: string;
  region: string;
  amzDate: string;
  signingMs: number;
  expires: number;
  signedHeaders: string[];
  signature: string;
}

/** The URL's signature parameters, once they are complete and scoped to STS on the signing day. */
function presignedParts(params: URLSearchParams): PresignedParts {
  if (params.get('Version') !== STS_API_VERSION) {
    throw new AwsError('InvalidAction', `Could not find operation GetCallerIdentity for version ${params.get('Version') ?? ''}`, 400);
  }
  const algorithm = params.get('X-Amz-Algorithm');
  const credential = params.get('X-Amz-Credential')?.split('/') ?? [];
  const amzDate = params.get('X-Amz-Date') ?? '';
  const expires = Number(params.get('X-Amz-Expires') ?? 'NaN');
  const signedHeaders = params.get('X-Amz-SignedHeaders')?.split(';') ?? [];
  const signature = params.get('X-Amz-Signature');
  const signingMs = parseAmzDate(amzDate);
  const [accessKeyId, shortDate, region, service, terminator] = credential;
  if (
    algorithm !== 'AWS4-HMAC-SHA256' || signature === null || signingMs === undefined || !Number.isInteger(expires) || expires < 1 ||
    accessKeyId === undefined || region === undefined || terminator !== 'aws4_request' || credential.length !== 5
  ) {
    throw new AwsError('IncompleteSignature', 'The presigned URL lacks a complete AWS Signature Version 4 (algorithm, credential, date, expires, signed headers, signature).', 400);
  }
  if (service !== 'sts' || shortDate !== amzDate.slice(0, 8)) {
    throw new AwsError('SignatureDoesNotMatch', `Credential should be scoped to the sts service on ${amzDate.slice(0, 8)}.`, 403);
  }
  if (!signedHeaders.includes('host')) throw new AwsError('SignatureDoesNotMatch', "'Host' must be a signed header.", 403);
  return { accessKeyId, region, amzDate, signingMs, expires, signedHeaders, signature };
}

/** The identity that signed, with the session token it was issued, within the token's life. */
function currentIdentity(parts: PresignedParts, params: URLSearchParams, identityFor: (accessKeyId: string) => KnownIdentity | undefined, now: number): KnownIdentity {
  const identity = identityFor(parts.accessKeyId);
  if (identity === undefined) throw new AwsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
  if (identity.sessionToken !== (params.get('X-Amz-Security-Token') ?? undefined)) {
    throw new AwsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
  }
  if (identity.expiresAt !== undefined && now >= identity.expiresAt) {
    throw new AwsError('ExpiredToken', 'The security token included in the request is expired', 403);
  }
  if (parts.signingMs - now > MAX_CLOCK_SKEW_MS) {
    throw new AwsError('SignatureDoesNotMatch', `Signature not yet current: ${parts.amzDate} is still later than the server time.`, 403);
  }
  if (now > parts.signingMs + EKS_TOKEN_LIFETIME_MS) {
    throw new AwsError('ExpiredToken', `Signature expired: ${parts.amzDate} is now earlier than 15 minutes before the server time.`, 403);
  }
  return identity;
}

/** Answers a presigned GetCallerIdentity with the caller it names, once its signature checks out. */
export async function presignedCallerIdentity(
  req: IncomingMessage,
  url: URL,
  identityFor: (accessKeyId: string) => KnownIdentity | undefined,
  now: number,
): Promise<StsAnswer> {
  const params = url.searchParams;
  const parts = presignedParts(params);
  const identity = currentIdentity(parts, params, identityFor, now);
  const expected = await presignedSignature(
    req,
    queryRecord(params, PRESIGN_PARAMS),
    { service: 'sts', region: parts.region, identity, signedHeaders: parts.signedHeaders, signingMs: parts.signingMs, expiresIn: parts.expires },
    'SignatureDoesNotMatch',
  );
  if (typeof expected.signature !== 'string' || expected.signedHeaders !== parts.signedHeaders.join(';') || !sameSignature(expected.signature, parts.signature)) {
    throw new AwsError('SignatureDoesNotMatch', MISMATCH_MESSAGE, 403);
  }
  return { action: 'GetCallerIdentity', result: { Arn: identity.arn, UserId: identity.userId, Account: accountOf(identity.arn) } };
}
