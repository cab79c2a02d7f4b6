/**
 * Local stand-ins for the two AWS endpoints an EKS client talks to before it reaches the cluster:
 *
 * - EKS `DescribeCluster` (REST-JSON, `GET /clusters/<name>`, SigV4-signed and verified), so the
 *   real `EKSClient` learns each local cluster's endpoint and CA data;
 * - STS `GetCallerIdentity` through a presigned URL, the way an EKS cluster's authenticator replays
 *   a bearer token: the signature is recomputed with @smithy/signature-v4, the token's 15-minute
 *   life is checked, and the signed `x-k8s-aws-id` header must be the one sent.
 *
 * `eksTokenVerifier` is what aws-iam-authenticator does in the cluster: it decodes a token, checks
 * the URL's shape, replays it to the (local) STS with the cluster's name, and maps the caller to a
 * Kubernetes user. The local Kubernetes server takes it as its token verifier, so the whole chain
 * (DescribeCluster, token, kube API, STS) runs as on EKS.
 */
import { sigv4Signer } from '../aws/sigv4.js';
import { listenOnLoopback, parseAmzDate, readBody } from './kit/http.js';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HttpRequest } from '@smithy/protocol-http';
import { CLUSTER_ID_HEADER, EKS_TOKEN_LIFETIME_MS, STS_API_VERSION, decodeEksToken } from '../aws/eks-token.js';
import type { KubeUser, TokenVerifier } from './kubernetes-server.js';

const ACCOUNT_ID = '000000000000';
const MAX_CLOCK_SKEW_MS = 5 * 60_000;

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}


function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function sameSignature(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

function queryRecord(params: URLSearchParams, omit: ReadonlySet<string>): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    if (omit.has(key)) continue;
    const all = params.getAll(key);
    query[key] = all.length === 1 && all[0] !== undefined ? all[0] : all;
  }
  return query;
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.closeAllConnections();
    server.close((error) => (error === undefined ? resolve() : reject(error)));
  });
}

// ---------------------------------------------------------------------------------------------
// EKS DescribeCluster.

export interface LocalClusterEntry {
  name: string;
  /** The cluster's API endpoint, e.g. a local Kubernetes server's `https://127.0.0.1:PORT`. */
  endpoint: string;
  /** base64 of the cluster CA's PEM, as DescribeCluster returns it. */
  caData: string;
  status?: 'CREATING' | 'ACTIVE' | 'DELETING' | 'FAILED' | 'UPDATING' | 'PENDING';
  version?: string;
}

export interface LocalEksOptions {
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  clusters?: readonly LocalClusterEntry[];
  now?: () => number;
  port?: number;
}

export interface LocalEks {
  /** `http://127.0.0.1:PORT`, for `new EKSClient({ endpoint })`. */
  endpoint: string;
  region: string;
  credentials: Credentials;
  setCluster(cluster: LocalClusterEntry): void;
  removeCluster(name: string): void;
  /** DescribeCluster requests per cluster name since start or the last reset. */
  calls(): Record<string, number>;
  resetCalls(): void;
  stop(): Promise<void>;
}

/** A key pair a local endpoint accepts; temporary ones carry a session token and an end. */
interface SigningIdentity extends Credentials {
  sessionToken?: string;
  /** Epoch ms after which requests signed with it are refused (ExpiredToken). */
  expiresAt?: number;
}

/** The error codes each service answers for signature problems (EKS's REST-JSON, STS's Query). */
interface SignatureErrorCodes {
  missing: string;
  incomplete: string;
  unknownKey: string;
  mismatch: string;
}

const EKS_SIGNATURE_ERRORS: SignatureErrorCodes = {
  missing: 'MissingAuthenticationTokenException',
  incomplete: 'IncompleteSignatureException',
  unknownKey: 'UnrecognizedClientException',
  mismatch: 'InvalidSignatureException',
};

const STS_SIGNATURE_ERRORS: SignatureErrorCodes = {
  missing: 'MissingAuthenticationToken',
  incomplete: 'IncompleteSignature',
  unknownKey: 'InvalidClientTokenId',
  mismatch: 'SignatureDoesNotMatch',
};

/**
 * Verifies a header-signed SigV4 request by recomputing its signature with the identity its
 * credential scope names. `region` undefined accepts the scope's region (the local STS serves
 * every region). Returns the identity that signed.
 */
async function verifyHeaderSignature(
  req: IncomingMessage,
  body: Buffer,
  scope: { service: string; region: string | undefined },
  identityFor: (accessKeyId: string) => SigningIdentity | undefined,
  nowMs: number,
  codes: SignatureErrorCodes,
): Promise<SigningIdentity> {
  const { service } = scope;
  const authorization = headerValue(req, 'authorization');
  if (authorization === undefined) throw new AwsError(codes.missing, 'Missing Authentication Token', 403);
  const match = /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(authorization.trim());
  const [, credential, signedHeaders, signature] = match ?? [];
  const parts = credential?.split('/') ?? [];
  if (signedHeaders === undefined || signature === undefined || parts.length !== 5 || parts[4] !== 'aws4_request') {
    throw new AwsError(codes.incomplete, "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.", 403);
  }
  const [accessKeyId = '', shortDate, scopeRegion = '', scopeService] = parts;
  const identity = identityFor(accessKeyId);
  if (identity === undefined) throw new AwsError(codes.unknownKey, 'The security token included in the request is invalid.', 403);
  const amzDate = headerValue(req, 'x-amz-date') ?? '';
  const signingMs = parseAmzDate(amzDate);
  if (signingMs === undefined || shortDate !== amzDate.slice(0, 8)) {
    throw new AwsError(codes.incomplete, 'The X-Amz-Date header is missing or does not match the credential scope.', 403);
  }
  const region = scope.region ?? scopeRegion;
  if (scopeRegion !== region || scopeService !== service || !/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) {
    throw new AwsError(codes.mismatch, `Credential should be scoped to a valid region and service: '${region}', '${service}'.`, 403);
  }
  if (Math.abs(nowMs - signingMs) > MAX_CLOCK_SKEW_MS) {
    throw new AwsError(codes.mismatch, `Signature expired: ${amzDate} is outside the allowed skew of 5 min from the server time.`, 403);
  }
  const names = signedHeaders.split(';');
  if (!names.includes('host')) throw new AwsError(codes.incomplete, "'Host' must be a 'SignedHeader' in the AWS Authorization.", 403);
  const sessionToken = headerValue(req, 'x-amz-security-token');
  if (sessionToken !== identity.sessionToken || (sessionToken !== undefined && !names.includes('x-amz-security-token'))) {
    throw new AwsError(codes.unknownKey, 'The security token included in the request is invalid.', 403);
  }
  if (identity.expiresAt !== undefined && nowMs >= identity.expiresAt) {
    throw new AwsError('ExpiredToken', 'The security token included in the request is expired', 403);
  }
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = headerValue(req, name);
    if (value === undefined) throw new AwsError(codes.incomplete, `Signed header ${name} is missing from the request.`, 403);
    headers[name] = value;
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  const request = new HttpRequest({
    method: req.method ?? 'GET',
    protocol: 'http:',
    hostname: '127.0.0.1',
    path: url.pathname.split('/').map((segment) => decodeURIComponent(segment)).join('/'),
    query: queryRecord(url.searchParams, new Set()),
    headers,
    body,
  });
  const signed = await sigv4Signer(service, region, identity).sign(request, {
    signingDate: new Date(signingMs),
    signableHeaders: new Set(names),
  });
  const expected = /Signature=([0-9a-f]+)/.exec(String(signed.headers['authorization']))?.[1] ?? '';
  if (!sameSignature(expected, signature)) {
    throw new AwsError(
      codes.mismatch,
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      403,
    );
  }
  return identity;
}

function sendJson(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    'x-amzn-RequestId': randomUUID(),
    ...(errorType === undefined ? {} : { 'x-amzn-ErrorType': errorType }),
  });
  res.end(payload);
}

export async function startLocalEks(options: LocalEksOptions = {}): Promise<LocalEks> {
  const region = options.region ?? 'us-east-1';
  const credentials = {
    accessKeyId: options.accessKeyId ?? 'AKIDLOCALEKS',
    secretAccessKey: options.secretAccessKey ?? 'local-eks-secret-access-key',
  };
  const now = options.now ?? Date.now;
  const createdAt = Math.floor(now() / 1000);
  const clusters = new Map<string, LocalClusterEntry>((options.clusters ?? []).map((c) => [c.name, c]));
  let counts: Record<string, number> = {};

  async function handle(req: IncomingMessage): Promise<unknown> {
    const body = await readBody(req);
    await verifyHeaderSignature(req, body, { service: 'eks', region }, (id) => (id === credentials.accessKeyId ? credentials : undefined), now(), EKS_SIGNATURE_ERRORS);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = /^\/clusters\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || match?.[1] === undefined) {
      throw new AwsError('InvalidRequestException', `${req.method ?? ''} ${url.pathname} is not supported by the local EKS endpoint.`, 400);
    }
    const name = decodeURIComponent(match[1]);
    counts[name] = (counts[name] ?? 0) + 1;
    const cluster = clusters.get(name);
    if (cluster === undefined) throw new AwsError('ResourceNotFoundException', `No cluster found for name: ${name}.`, 404);
    return {
      cluster: {
        name,
        arn: `arn:aws:eks:${region}:${ACCOUNT_ID}:cluster/${name}`,
        createdAt,
        version: cluster.version ?? '1.31',
        endpoint: cluster.endpoint,
        roleArn: `arn:aws:iam::${ACCOUNT_ID}:role/eks-cluster-role`,
        resourcesVpcConfig: { subnetIds: [], securityGroupIds: [], endpointPublicAccess: true, endpointPrivateAccess: false, publicAccessCidrs: ['0.0.0.0/0'] },
        kubernetesNetworkConfig: { serviceIpv4Cidr: '10.100.0.0/16', ipFamily: 'ipv4' },
        identity: { oidc: { issuer: `https://oidc.eks.${region}.amazonaws.com/id/${createHash('sha256').update(name).digest('hex').slice(0, 32).toUpperCase()}` } },
        status: cluster.status ?? 'ACTIVE',
        certificateAuthority: { data: cluster.caData },
        platformVersion: 'eks.1',
        tags: {},
        accessConfig: { authenticationMode: 'API' },
      },
    };
  }

  const server = createServer((req, res) => {
    handle(req).then(
      (body) => sendJson(res, 200, body),
      (error: unknown) => {
        const failure = error instanceof AwsError ? error : new AwsError('ServerException', 'An internal error occurred.', 500);
        sendJson(res, failure.status, { message: failure.message }, failure.type);
      },
    );
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    setCluster: (cluster) => {
      clusters.set(cluster.name, cluster);
    },
    removeCluster: (name) => {
      clusters.delete(name);
    },
    calls: () => ({ ...counts }),
    resetCalls: () => {
      counts = {};
    },
    stop: () => closeServer(server),
  };
}

// ---------------------------------------------------------------------------------------------
// STS: GetCallerIdentity through a presigned URL, and AssumeRole (a header-signed POST).

export interface LocalStsIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, requests must carry it as X-Amz-Security-Token (temporary credentials). */
  sessionToken?: string;
  /** `arn:aws:iam::<account>:user/name` or `arn:aws:sts::<account>:assumed-role/Role/session`. */
  arn: string;
  userId?: string;
}

/** A role the local STS lets callers assume. */
export interface LocalStsRole {
  /** `arn:aws:iam::<account>:role/[path/]name`. */
  arn: string;
  /**
   * The trust policy: caller ARNs (as GetCallerIdentity names them, assumed roles canonicalized to
   * their role ARN) allowed to assume it. Any caller the local STS knows, when absent.
   */
  trustedPrincipals?: readonly string[];
  /** The longest session it grants; 3600 s (IAM's default MaxSessionDuration) when absent. */
  maxSessionSeconds?: number;
}

export interface LocalStsOptions {
  identities: readonly LocalStsIdentity[];
  /** Roles AssumeRole may hand out credentials for; AccessDenied for any other. */
  roles?: readonly LocalStsRole[];
  now?: () => number;
  port?: number;
}

/** Temporary credentials the local STS has issued. Secrets are not repeated here. */
export interface LocalStsSession {
  roleArn: string;
  sessionName: string;
  accessKeyId: string;
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>`. */
  assumedRoleArn: string;
  expiration: Date;
  /** The caller that assumed the role, as GetCallerIdentity would name it. */
  issuedTo: string;
}

export interface LocalSts {
  /** `http://127.0.0.1:PORT`: the `stsEndpoint` for EksTokenSource and eksTokenVerifier, and the AssumeRole endpoint. */
  endpoint: string;
  /** GetCallerIdentity requests answered (successful or not). */
  calls(): number;
  /** AssumeRole requests answered (successful or not). */
  assumeRoleCalls(): number;
  /** The sessions AssumeRole issued, oldest first. */
  sessions(): LocalStsSession[];
  stop(): Promise<void>;
}

const PRESIGN_PARAMS = new Set([
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
]);

const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ROLE_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const LOCAL_ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;

function accountOf(arn: string): string {
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

type StsAnswer = { action: 'GetCallerIdentity' | 'AssumeRole'; result: Record<string, unknown> };

function sendSts(res: ServerResponse, status: number, json: boolean, body: { answer?: StsAnswer; error?: AwsError }): void {
  const requestId = randomUUID();
  let payload: string;
  if (body.answer !== undefined) {
    const { action, result } = body.answer;
    payload = json
      ? JSON.stringify({ [`${action}Response`]: { [`${action}Result`]: result, ResponseMetadata: { RequestId: requestId } } })
      : `<${action}Response xmlns="${STS_NAMESPACE}">\n` +
        xmlFields({ [`${action}Result`]: result, ResponseMetadata: { RequestId: requestId } }, '  ') +
        `</${action}Response>\n`;
  } else {
    const error = body.error ?? new AwsError('InternalFailure', 'An internal error occurred.', 500);
    const type = error.status >= 500 ? 'Receiver' : 'Sender';
    payload = json
      ? JSON.stringify({ Error: { Type: type, Code: error.type, Message: error.message }, RequestId: requestId })
      : `<ErrorResponse xmlns="${STS_NAMESPACE}">\n${xmlFields({ Error: { Type: type, Code: error.type, Message: error.message }, RequestId: requestId }, '  ')}</ErrorResponse>\n`;
  }
  res.writeHead(status, {
    'Content-Type': json ? 'application/json' : 'text/xml',
    'Content-Length': Buffer.byteLength(payload),
    'x-amzn-RequestId': requestId,
  });
  res.end(payload);
}

interface KnownIdentity extends SigningIdentity {
  arn: string;
  userId: string;
}

function randomKey(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return prefix + [...randomBytes(16)].map((byte) => alphabet.charAt(byte % 32)).join('');
}

export async function startLocalSts(options: LocalStsOptions): Promise<LocalSts> {
  const now = options.now ?? Date.now;
  const identities = new Map<string, KnownIdentity>(
    options.identities.map((identity) => [identity.accessKeyId, { ...identity, userId: identity.userId ?? identity.accessKeyId }]),
  );
  const roles = new Map<string, LocalStsRole>();
  for (const role of options.roles ?? []) {
    if (!LOCAL_ROLE_ARN.test(role.arn)) throw new Error(`startLocalSts: "${role.arn}" is not an IAM role ARN`);
    roles.set(role.arn, role);
  }
  const sessions: LocalStsSession[] = [];
  let count = 0;
  let assumeCount = 0;

  function knownIdentity(accessKeyId: string): KnownIdentity | undefined {
    return identities.get(accessKeyId);
  }

  async function getCallerIdentity(req: IncomingMessage, url: URL): Promise<StsAnswer> {
    const params = url.searchParams;
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
    const identity = knownIdentity(accessKeyId);
    if (identity === undefined) throw new AwsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
    const sessionToken = params.get('X-Amz-Security-Token') ?? undefined;
    if (identity.sessionToken !== sessionToken) {
      throw new AwsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);
    }
    const current = now();
    if (identity.expiresAt !== undefined && current >= identity.expiresAt) {
      throw new AwsError('ExpiredToken', 'The security token included in the request is expired', 403);
    }
    if (signingMs - current > MAX_CLOCK_SKEW_MS) {
      throw new AwsError('SignatureDoesNotMatch', `Signature not yet current: ${amzDate} is still later than the server time.`, 403);
    }
    // STS ignores X-Amz-Expires for these tokens: they last 15 minutes from X-Amz-Date.
    if (current > signingMs + EKS_TOKEN_LIFETIME_MS) {
      throw new AwsError('ExpiredToken', `Signature expired: ${amzDate} is now earlier than 15 minutes before the server time.`, 403);
    }
    const headers: Record<string, string> = {};
    for (const name of signedHeaders) {
      const value = headerValue(req, name);
      if (value === undefined) throw new AwsError('SignatureDoesNotMatch', `Signed header ${name} is missing from the request.`, 403);
      headers[name] = value;
    }
    const request = new HttpRequest({
      method: 'GET',
      protocol: 'http:',
      hostname: '127.0.0.1',
      path: '/',
      query: queryRecord(params, PRESIGN_PARAMS),
      headers,
    });
    const signer = sigv4Signer('sts', region, { accessKeyId, secretAccessKey: identity.secretAccessKey, ...(sessionToken === undefined ? {} : { sessionToken }) });
    const presigned = await signer.presign(request, { signingDate: new Date(signingMs), expiresIn: expires });
    const expected = presigned.query?.['X-Amz-Signature'];
    const expectedHeaders = presigned.query?.['X-Amz-SignedHeaders'];
    if (typeof expected !== 'string' || expectedHeaders !== signedHeaders.join(';') || !sameSignature(expected, signature)) {
      throw new AwsError(
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
        403,
      );
    }
    return { action: 'GetCallerIdentity', result: { Arn: identity.arn, UserId: identity.userId, Account: accountOf(identity.arn) } };
  }

  async function assumeRoleAction(req: IncomingMessage, body: Buffer): Promise<StsAnswer> {
    const contentType = headerValue(req, 'content-type') ?? '';
    if (!/^application\/x-www-form-urlencoded\b/i.test(contentType)) {
      throw new AwsError('InvalidParameterValue', 'A POST to STS must be application/x-www-form-urlencoded.', 400);
    }
    const params = new URLSearchParams(body.toString('utf8'));
    const action = params.get('Action') ?? '';
    if (action !== 'AssumeRole' || params.get('Version') !== STS_API_VERSION) {
      throw new AwsError('InvalidAction', `Could not find operation ${action} for version ${params.get('Version') ?? ''}`, 400);
    }
    const current = now();
    const caller = await verifyHeaderSignature(req, body, { service: 'sts', region: undefined }, knownIdentity, current, STS_SIGNATURE_ERRORS);
    const callerArn = identities.get(caller.accessKeyId)?.arn ?? '';
    const roleArn = params.get('RoleArn');
    const sessionName = params.get('RoleSessionName');
    if (roleArn === null || sessionName === null) {
      throw new AwsError('MissingParameter', `The request must contain the parameter ${roleArn === null ? 'RoleArn' : 'RoleSessionName'}.`, 400);
    }
    const roleMatch = LOCAL_ROLE_ARN.exec(roleArn);
    if (roleMatch === null) throw new AwsError('ValidationError', `${roleArn} is invalid`, 400);
    if (!ROLE_SESSION_NAME.test(sessionName)) {
      throw new AwsError('ValidationError', "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", 400);
    }
    const durationText = params.get('DurationSeconds') ?? '3600';
    const duration = /^\d{1,6}$/.test(durationText) ? Number(durationText) : Number.NaN;
    const role = roles.get(roleArn);
    const trusted = role?.trustedPrincipals;
    if (role === undefined || (trusted !== undefined && !trusted.includes(canonicalPrincipalArn(callerArn)))) {
      throw new AwsError('AccessDenied', `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`, 403);
    }
    const maxSession = role.maxSessionSeconds ?? 3600;
    if (!(duration >= 900) || duration > 43_200) {
      throw new AwsError('ValidationError', "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", 400);
    }
    if (duration > maxSession) {
      throw new AwsError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.', 400);
    }
    const [, partition = 'aws', account = ACCOUNT_ID, roleName = ''] = roleMatch;
    // STS answers whole seconds.
    const expiresAt = Math.floor(current / 1000) * 1000 + duration * 1000;
    const roleId = `AROA${createHash('sha256').update(roleArn).digest('hex').slice(0, 17).toUpperCase()}`;
    const assumedRoleArn = `arn:${partition}:sts::${account}:assumed-role/${roleName}/${sessionName}`;
    const issued: KnownIdentity = {
      accessKeyId: randomKey('ASIA'),
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `IQoJb3JpZ2luX2VjE${randomBytes(96).toString('base64')}`,
      expiresAt,
      arn: assumedRoleArn,
      userId: `${roleId}:${sessionName}`,
    };
    // Forget sessions that ended over an hour ago.
    for (const [key, identity] of identities) {
      if (identity.expiresAt !== undefined && identity.expiresAt + 3_600_000 < current) identities.delete(key);
    }
    identities.set(issued.accessKeyId, issued);
    const expiration = new Date(expiresAt);
    sessions.push({ roleArn, sessionName, accessKeyId: issued.accessKeyId, assumedRoleArn, expiration, issuedTo: callerArn });
    return {
      action: 'AssumeRole',
      result: {
        AssumedRoleUser: { AssumedRoleId: issued.userId, Arn: assumedRoleArn },
        Credentials: {
          AccessKeyId: issued.accessKeyId,
          SecretAccessKey: issued.secretAccessKey,
          SessionToken: issued.sessionToken,
          Expiration: expiration.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        },
      },
    };
  }

  async function handle(req: IncomingMessage): Promise<StsAnswer> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/') throw new AwsError('InvalidAction', 'This local STS answers at / only.', 400);
    if (req.method === 'POST') {
      assumeCount += 1;
      return assumeRoleAction(req, body);
    }
    if (req.method !== 'GET') throw new AwsError('InvalidAction', 'This local STS answers presigned GETs and POSTed AssumeRole requests only.', 400);
    count += 1;
    const action = url.searchParams.get('Action');
    if (action !== 'GetCallerIdentity') {
      throw new AwsError('InvalidAction', `Could not find operation ${action ?? ''} for version ${url.searchParams.get('Version') ?? ''}`, 400);
    }
    return getCallerIdentity(req, url);
  }

  const server = createServer((req, res) => {
    const json = (headerValue(req, 'accept') ?? '').includes('application/json');
    handle(req).then(
      (answer) => sendSts(res, 200, json, { answer }),
      (error: unknown) => {
        const failure = error instanceof AwsError ? error : new AwsError('InternalFailure', 'An internal error occurred.', 500);
        sendSts(res, failure.status, json, { error: failure });
      },
    );
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls: () => count,
    assumeRoleCalls: () => assumeCount,
    sessions: () => sessions.map((session) => ({ ...session, expiration: new Date(session.expiration) })),
    stop: () => closeServer(server),
  };
}

// ---------------------------------------------------------------------------------------------
// The cluster side: what aws-iam-authenticator does with a bearer token.

export interface EksTokenVerifierOptions {
  /** The cluster's name: the token's signed `x-k8s-aws-id` must be this. */
  clusterName: string;
  /** STS endpoints a token may point at (scheme and host), e.g. the local STS's endpoint. */
  stsEndpoints: readonly string[];
  now: () => number;
  /** Maps a caller ARN to groups (EKS access entries); none by default. */
  groupsFor?: (arn: string) => string[];
  timeoutMs?: number;
}

/** `arn:aws:sts::1:assumed-role/R/session` -> `arn:aws:iam::1:role/R`, as EKS maps callers. */
export function canonicalPrincipalArn(arn: string): string {
  const match = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(arn);
  if (match === null) return arn;
  return `arn:${match[1] ?? 'aws'}:iam::${match[2] ?? ''}:role/${match[3] ?? ''}`;
}

/**
 * A TokenVerifier for the local Kubernetes server: undefined (401) for anything that is not a
 * current, correctly signed token for this cluster.
 */
export function eksTokenVerifier(options: EksTokenVerifierOptions): TokenVerifier {
  const allowedHosts = new Set(options.stsEndpoints.map((endpoint) => new URL(endpoint).host));
  // Like kube-apiserver's token webhook cache (--authentication-token-webhook-cache-ttl, 2m by
  // default): a token once verified is accepted for two minutes without asking STS again.
  const verified = new Map<string, { user: KubeUser; until: number }>();
  // Requests that arrive together with the same new token share one STS check.
  const checking = new Map<string, Promise<KubeUser | undefined>>();
  return (token: string): Promise<KubeUser | undefined> => {
    const cached = verified.get(token);
    if (cached !== undefined && options.now() < cached.until) return Promise.resolve(cached.user);
    let check = checking.get(token);
    if (check === undefined) {
      check = verifyAndRemember(token).finally(() => checking.delete(token));
      checking.set(token, check);
    }
    return check;
  };

  async function verifyAndRemember(token: string): Promise<KubeUser | undefined> {
    const user = await verify(token);
    const signedAt = parseAmzDate(decodeEksToken(token)?.searchParams.get('X-Amz-Date') ?? '');
    if (user !== undefined && signedAt !== undefined) {
      if (verified.size > 1000) verified.clear();
      // Never past the token's own expiry.
      verified.set(token, { user, until: Math.min(options.now() + TOKEN_CACHE_TTL_MS, signedAt + EKS_TOKEN_LIFETIME_MS + 1) });
    }
    return user;
  }

  async function verify(token: string): Promise<KubeUser | undefined> {
    const url = decodeEksToken(token);
    if (url === undefined || !allowedHosts.has(url.host) || url.pathname !== '/') return undefined;
    const params = url.searchParams;
    const allowed = new Set(['Action', 'Version', ...PRESIGN_PARAMS]);
    if ([...params.keys()].some((key) => !allowed.has(key))) return undefined;
    if (params.get('Action') !== 'GetCallerIdentity') return undefined;
    if (!(params.get('X-Amz-SignedHeaders') ?? '').split(';').includes(CLUSTER_ID_HEADER)) return undefined;
    const signedAt = parseAmzDate(params.get('X-Amz-Date') ?? '');
    if (signedAt === undefined || options.now() > signedAt + EKS_TOKEN_LIFETIME_MS) return undefined;
    let response: Response;
    try {
      response = await fetch(url, {
        headers: { [CLUSTER_ID_HEADER]: options.clusterName, accept: 'application/json' },
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      });
    } catch {
      return undefined;
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      return undefined;
    }
    const body: unknown = await response.json();
    const result = readPath(body, ['GetCallerIdentityResponse', 'GetCallerIdentityResult']);
    const arn = readPath(result, ['Arn']);
    const account = readPath(result, ['Account']);
    const userId = readPath(result, ['UserId']);
    if (typeof arn !== 'string' || typeof account !== 'string' || typeof userId !== 'string') return undefined;
    const username = canonicalPrincipalArn(arn);
    return { username, uid: `aws-iam-authenticator:${account}:${userId}`, groups: options.groupsFor?.(username) ?? [] };
  }
}

const TOKEN_CACHE_TTL_MS = 2 * 60_000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readPath(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return current;
}
