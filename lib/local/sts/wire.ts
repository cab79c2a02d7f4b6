/**
 * How the local STS speaks: the Query protocol's answers and errors, in XML (what the SDK reads)
 * or JSON (what aws-iam-authenticator asks for with `Accept: application/json`).
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { AwsError } from '../kit/aws-error.js';
import { isRecord } from '../kit/json-protocol.js';
import type { SignatureErrorCodes, SigningIdentity } from '../kit/sigv4.js';

export const ACCOUNT_ID = '000000000000';

/** STS's Query-protocol codes for signature problems. */
export const STS_SIGNATURE_ERRORS: SignatureErrorCodes = {
  missing: 'MissingAuthenticationToken',
  incomplete: 'IncompleteSignature',
  unknownKey: 'InvalidClientTokenId',
  mismatch: 'SignatureDoesNotMatch',
  status: 403,
};

/** The query parameters of a presigned URL that carry its signature. */
export const PRESIGN_PARAMS: ReadonlySet<string> = new Set([
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
]);

/** An identity the local STS knows: configured, or issued by AssumeRole. */
export interface KnownIdentity extends SigningIdentity {
  arn: string;
  userId: string;
}

export type StsAnswer = { action: 'GetCallerIdentity' | 'AssumeRole'; result: Record<string, unknown> };

const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

export function accountOf(arn: string): string {
  return arn.split(':')[4] ?? ACCOUNT_ID;
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** `{ a: 'x', b: { c: 'y' } }` as `<a>x</a><b><c>y</c></b>`, indented. */
function xmlFields(fields: Record<string, unknown>, indent: string): string {
  return Object.entries(fields)
    .map(([name, value]) =>
      isRecord(value)
        ? `${indent}<${name}>\n${xmlFields(value, `${indent}  `)}${indent}</${name}>\n`
        : `${indent}<${name}>${xmlEscape(String(value))}</${name}>\n`,
    )
    .join('');
}

function answerPayload(answer: StsAnswer, json: boolean, requestId: string): string {
  const { action, result } = answer;
  return json
    ? JSON.stringify({ [`${action}Response`]: { [`${action}Result`]: result, ResponseMetadata: { RequestId: requestId } } })
    : `<${action}Response xmlns="${STS_NAMESPACE}">\n` +
        xmlFields({ [`${action}Result`]: result, ResponseMetadata: { RequestId: requestId } }, '  ') +
        `</${action}Response>\n`;
}

function errorPayload(error: AwsError, json: boolean, requestId: string): string {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return json
    ? JSON.stringify({ Error: { Type: type, Code: error.type, Message: error.message }, RequestId: requestId })
    : `<ErrorResponse xmlns="${STS_NAMESPACE}">\n${xmlFields({ Error: { Type: type, Code: error.type, Message: error.message }, RequestId: requestId }, '  ')}</ErrorResponse>\n`;
}

export function sendSts(res: ServerResponse, status: number, json: boolean, body: { answer?: StsAnswer; error?: AwsError }): void {
  const requestId = randomUUID();
  const payload =
    body.answer !== undefined
      ? answerPayload(body.answer, json, requestId)
      : errorPayload(body.error ?? new AwsError('InternalFailure', 'An internal error occurred.', 500), json, requestId);
  res.writeHead(status, {
    'Content-Type': json ? 'application/json' : 'text/xml',
    'Content-Length': Buffer.byteLength(payload),
    'x-amzn-RequestId': requestId,
  });
  res.end(payload);
}
