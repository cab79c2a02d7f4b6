/**
 * STS AssumeRole for EKS targets that name a `roleArn`: the cluster's bearer token is then signed
 * with the role's temporary credentials, so the cluster sees `assumed-role/<role>/<session>`.
 *
 * The call is the Query protocol (`POST /`, a form-encoded `Action=AssumeRole&...` body) against
 * the regional endpoint `https://sts.<region>.amazonaws.com`, signed with @smithy/signature-v4
 * (service `sts`), never hand-rolled. The XML answer is read by a small strict parser below (no
 * DOCTYPE, no entities beyond the five predefined and character references, no CDATA, no
 * processing instructions but the declaration): anything unexpected is a malformed answer.
 *
 * Errors are StsError (code, HTTP status, whether retrying can help), and RoleAccessDeniedError
 * for `AccessDenied`. No message ever carries a secret access key or session token.
 */
import { sigv4Signer } from './sigv4.js';
import { HttpRequest } from '@smithy/protocol-http';
import { CertrotateError, ValidationError } from '../errors.js';
import type { Clock } from '../ports.js';
import { ROLE_ARN } from '../config/eks-targets.js';
import { STS_API_VERSION, stsEndpointFor, type AwsCredentials, type CredentialSource } from './eks-token.js';

/** The shortest session STS grants; the provider below refreshes well before it ends. */
export const ASSUME_ROLE_DURATION_SECONDS = 900;
/** Cached role credentials are replaced this long before they expire. */
export const ROLE_CREDENTIALS_REFRESH_MARGIN_MS = 5 * 60_000;
export const DEFAULT_ROLE_SESSION_NAME = 'certrotate';
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const MAX_RESPONSE_BYTES = 64 * 1024;
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
  /** `https://sts.<region>.amazonaws.com` unless overridden (a local STS, a VPC endpoint). */
  endpoint?: string;
  fetch?: typeof fetch;
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

/** Calls STS AssumeRole once. Throws StsError (RoleAccessDeniedError for AccessDenied), ValidationError for bad input. */
export async function assumeRole(request: AssumeRoleRequest): Promise<RoleCredentials> {
  const { roleArn, sessionName } = request;
  const durationSeconds = request.durationSeconds ?? ASSUME_ROLE_DURATION_SECONDS;
  if (!ROLE_ARN.pattern.test(roleArn)) throw new ValidationError(`cannot assume "${roleArn}": it ${ROLE_ARN.hint}`);
  if (!SESSION_NAME.test(sessionName)) {
    throw new ValidationError(`role session name "${sessionName}" must be 2-64 letters, digits or _+=,.@-`);
  }
  if (!Number.isInteger(durationSeconds) || durationSeconds < 900 || durationSeconds > 43_200) {
    throw new ValidationError(`the role session duration must be a whole number of seconds within 900-43200, got ${durationSeconds}`);
  }
  const endpoint = new URL(request.endpoint ?? stsEndpointFor(request.region));
  const body = new URLSearchParams({
    Action: 'AssumeRole',
    Version: STS_API_VERSION,
    RoleArn: roleArn,
    RoleSessionName: sessionName,
    DurationSeconds: String(durationSeconds),
  }).toString();
  const signer = sigv4Signer('sts', request.region, request.credentials);
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: endpoint.protocol,
      hostname: endpoint.hostname,
      ...(endpoint.port === '' ? {} : { port: Number(endpoint.port) }),
      path: endpoint.pathname,
      headers: { host: endpoint.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
    }),
    { signingDate: new Date(request.now) },
  );
  // fetch sets Host from the URL: the same value that was signed.
  const headers = Object.fromEntries(Object.entries(signed.headers).filter(([name]) => name.toLowerCase() !== 'host'));
  const secrets = [request.credentials.secretAccessKey, request.credentials.sessionToken];
  const fail = (code: string, status: number | undefined, detail: string, cause?: unknown): StsError => {
    const retryable = RETRYABLE_CODES.has(code) || (status !== undefined && (status >= 500 || status === 429));
    const text = redact(detail, secrets);
    if (code === 'AccessDenied') {
      return new RoleAccessDeniedError(
        roleArn,
        code,
        status,
        false,
        `STS refused to let certrotate assume role ${roleArn} (AccessDenied: ${text}). The role's trust policy must allow sts:AssumeRole ` +
          "from the functions' role, and the functions' role must be granted sts:AssumeRole on it.",
        cause === undefined ? undefined : { cause },
      );
    }
    return new StsError(roleArn, code, status, retryable, `STS AssumeRole of ${roleArn} failed (${code}${status === undefined ? '' : `, HTTP ${status}`}): ${text}`, cause === undefined ? undefined : { cause });
  };

  let response: Response;
  try {
    response = await (request.fetch ?? fetch)(endpoint, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(request.timeoutMs ?? 10_000),
    });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    const detail = error instanceof Error ? error.message : String(error);
    throw fail(timedOut ? 'Timeout' : 'NetworkError', undefined, `no answer from ${endpoint.origin}: ${detail}`, error);
  }
  const text = await readLimited(response);
  if (text === undefined) throw fail('MalformedResponse', response.status, `the answer is larger than ${MAX_RESPONSE_BYTES} bytes`);
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (error) {
    const detail = error instanceof XmlSyntaxError ? error.message : 'unreadable answer';
    throw fail(response.ok ? 'MalformedResponse' : `HTTP${response.status}`, response.status, `the answer is not the XML STS sends: ${detail}`);
  }
  if (!response.ok) {
    const error = root.name === 'ErrorResponse' ? optionalChild(root, 'Error') : undefined;
    const code = error === undefined ? undefined : optionalText(error, 'Code');
    const message = error === undefined ? undefined : optionalText(error, 'Message');
    const known = code !== undefined && /^[A-Za-z][\w.]{0,99}$/.test(code) ? code : undefined;
    throw fail(known ?? `HTTP${response.status}`, response.status, message ?? `HTTP ${response.status} without an STS error document`);
  }
  try {
    if (root.name !== 'AssumeRoleResponse') throw new XmlSyntaxError(`expected <AssumeRoleResponse>, got <${root.name}>`);
    const credentials = required(required(root, 'AssumeRoleResult'), 'Credentials');
    const accessKeyId = textOf(required(credentials, 'AccessKeyId'));
    const secretAccessKey = textOf(required(credentials, 'SecretAccessKey'));
    const sessionToken = textOf(required(credentials, 'SessionToken'));
    const expirationText = textOf(required(credentials, 'Expiration'));
    if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId)) throw new XmlSyntaxError('<AccessKeyId> is not an access key id');
    if (secretAccessKey === '' || sessionToken === '') throw new XmlSyntaxError('<SecretAccessKey> or <SessionToken> is empty');
    const expiration = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(expirationText) ? new Date(expirationText) : undefined;
    if (expiration === undefined || Number.isNaN(expiration.getTime())) throw new XmlSyntaxError('<Expiration> is not an ISO 8601 instant');
    if (expiration.getTime() <= request.now) throw new XmlSyntaxError(`the credentials expired at ${expiration.toISOString()}, before they were asked for`);
    return { accessKeyId, secretAccessKey, sessionToken, expiration };
  } catch (error) {
    if (!(error instanceof XmlSyntaxError)) throw error;
    // The message names elements only, never their contents.
    throw fail('MalformedResponse', response.status, error.message);
  }
}

export interface RoleCredentialsOptions {
  /** The region whose STS endpoint is called (the functions' own). */
  region: string;
  endpoint?: string;
  sessionName?: string;
  durationSeconds?: number;
  fetch?: typeof fetch;
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
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
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

async function readLimited(response: Response): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > MAX_RESPONSE_BYTES) {
    await response.body?.cancel();
    return undefined;
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  return bytes.byteLength > MAX_RESPONSE_BYTES ? undefined : new TextDecoder('utf-8', { fatal: false }).decode(bytes);
}

// ---------------------------------------------------------------------------------------------
// A small, strict XML reader: elements, attributes, text, comments, the five predefined entities
// and character references. Enough for STS's answers; anything else is refused.

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own character data (decoded), concatenated. */
  text: string;
}

export class XmlSyntaxError extends Error {
  override name = 'XmlSyntaxError';
}

const NAME = /[A-Za-z_][\w.:-]*/y;
const MAX_DEPTH = 32;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Parses one XML document into its root element. Throws XmlSyntaxError. */
export function parseXml(source: string): XmlElement {
  let pos = source.startsWith('\uFEFF') ? 1 : 0;
  const fail: (what: string) => never = (what) => {
    throw new XmlSyntaxError(`${what} at offset ${pos}`);
  };
  const skipSpace = (): void => {
    while (pos < source.length && ' \t\r\n'.includes(source.charAt(pos))) pos += 1;
  };
  const name = (): string => {
    NAME.lastIndex = pos;
    const match = NAME.exec(source);
    if (match === null) return fail('expected a name');
    pos += match[0].length;
    return match[0];
  };
  const decode = (raw: string): string =>
    raw.replace(/&([^;&\s]*);?/g, (whole, ref: string) => {
      if (!whole.endsWith(';')) return fail('an unterminated entity reference');
      const predefined = PREDEFINED[ref];
      if (predefined !== undefined) return predefined;
      const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ref);
      if (numeric === null) return fail(`an unknown entity &${ref};`);
      const code = numeric[1] === undefined ? Number(numeric[2]) : Number.parseInt(numeric[1], 16);
      if (code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return fail('an invalid character reference');
      return String.fromCodePoint(code);
    });
  const misc = (): void => {
    for (;;) {
      skipSpace();
      if (source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos + 4);
        if (end < 0) fail('an unterminated comment');
        pos = end + 3;
      } else {
        return;
      }
    }
  };
  const element = (depth: number): XmlElement => {
    if (depth > MAX_DEPTH) fail('elements nested too deeply');
    if (source.charAt(pos) !== '<') fail('expected an element');
    pos += 1;
    const tag = name();
    const attributes: Record<string, string> = {};
    for (;;) {
      const before = pos;
      skipSpace();
      if (source.startsWith('/>', pos)) {
        pos += 2;
        return { name: tag, attributes, children: [], text: '' };
      }
      if (source.charAt(pos) === '>') {
        pos += 1;
        break;
      }
      if (pos === before) fail('expected whitespace before an attribute');
      const attribute = name();
      skipSpace();
      if (source.charAt(pos) !== '=') fail('expected = after an attribute name');
      pos += 1;
      skipSpace();
      const quote = source.charAt(pos);
      if (quote !== '"' && quote !== "'") fail('expected a quoted attribute value');
      const end = source.indexOf(quote, pos + 1);
      if (end < 0) fail('an unterminated attribute value');
      const raw = source.slice(pos + 1, end);
      if (raw.includes('<')) fail('< in an attribute value');
      if (Object.hasOwn(attributes, attribute)) fail(`a repeated attribute ${attribute}`);
      attributes[attribute] = decode(raw);
      pos = end + 1;
    }
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      const next = source.indexOf('<', pos);
      if (next < 0) fail(`an unclosed <${tag}>`);
      const raw = source.slice(pos, next);
      if (raw.includes(']]>')) fail(']]> in character data');
      text += decode(raw);
      pos = next;
      if (source.startsWith('</', pos)) {
        pos += 2;
        if (name() !== tag) fail(`a closing tag that does not match <${tag}>`);
        skipSpace();
        if (source.charAt(pos) !== '>') fail('expected > to end a closing tag');
        pos += 1;
        if (children.length > 0 && text.trim() !== '') fail(`text mixed with elements in <${tag}>`);
        return { name: tag, attributes, children, text: children.length > 0 ? '' : text };
      }
      if (source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos + 4);
        if (end < 0) fail('an unterminated comment');
        pos = end + 3;
        continue;
      }
      if (source.startsWith('<!', pos) || source.startsWith('<?', pos)) fail('a declaration, CDATA section or processing instruction (not accepted)');
      children.push(element(depth + 1));
    }
  };

  if (source.startsWith('<?xml', pos)) {
    const end = source.indexOf('?>', pos);
    if (end < 0) fail('an unterminated XML declaration');
    const declaration = source.slice(pos + 5, end);
    if (!/^(\s+[a-z]+\s*=\s*("[^"]*"|'[^']*'))*\s*$/.test(declaration) || /encoding\s*=\s*["'](?!utf-8["'])/i.test(declaration)) {
      fail('an XML declaration other than a UTF-8 one');
    }
    pos = end + 2;
  }
  misc();
  if (source.startsWith('<!', pos) || source.startsWith('<?', pos)) fail('a declaration or processing instruction (not accepted)');
  const root = element(0);
  misc();
  if (pos !== source.length) fail('content after the root element');
  return root;
}

function only(parent: XmlElement, name: string): XmlElement | undefined {
  const found = parent.children.filter((child) => child.name === name);
  if (found.length > 1) throw new XmlSyntaxError(`more than one <${name}> in <${parent.name}>`);
  return found[0];
}

function required(parent: XmlElement, name: string): XmlElement {
  const found = only(parent, name);
  if (found === undefined) throw new XmlSyntaxError(`no <${name}> in <${parent.name}>`);
  return found;
}

function textOf(element: XmlElement): string {
  if (element.children.length > 0) throw new XmlSyntaxError(`<${element.name}> holds elements, not text`);
  return element.text.trim();
}

function optionalChild(parent: XmlElement, name: string): XmlElement | undefined {
  try {
    return only(parent, name);
  } catch {
    return undefined;
  }
}

function optionalText(parent: XmlElement, name: string): string | undefined {
  try {
    const found = only(parent, name);
    return found === undefined ? undefined : textOf(found);
  } catch {
    return undefined;
  }
}
