/**
 * AssumeRole (a header-signed, form-encoded POST): checks the caller's signature, the role's trust
 * policy and session limits, and issues temporary credentials the local STS then accepts.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { STS_API_VERSION } from '../../aws/eks-token.js';
import { canonicalPrincipalArn } from '../eks/token-verifier.js';
import { AwsError } from '../kit/aws-error.js';
import { headerValue } from '../kit/http.js';
import { verifySignature } from '../kit/sigv4.js';
import { ACCOUNT_ID, STS_SIGNATURE_ERRORS, type KnownIdentity, type StsAnswer } from './wire.js';

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

/** What the local STS knows and has issued. */
export interface StsState {
  identities: Map<string, KnownIdentity>;
  roles: Map<string, LocalStsRole>;
  sessions: LocalStsSession[];
  now: () => number;
}

const ROLE_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
export const LOCAL_ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;

function randomKey(prefix: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return prefix + [...randomBytes(16)].map((byte) => alphabet.charAt(byte % 32)).join('');
}

interface AssumeRequest {
  roleArn: string;
  sessionName: string;
  roleMatch: RegExpExecArray;
  duration: number;
}

/** The form's parameters, checked as STS checks them (the caller's signature is checked between). */
function readForm(req: IncomingMessage, body: Buffer): URLSearchParams {
  const contentType = headerValue(req, 'content-type') ?? '';
  if (!/^application\/x-www-form-urlencoded\b/i.test(contentType)) {
    throw new AwsError('InvalidParameterValue', 'A POST to STS must be application/x-www-form-urlencoded.', 400);
  }
  const params = new URLSearchParams(body.toString('utf8'));
  const action = params.get('Action') ?? '';
  if (action !== 'AssumeRole' || params.get('Version') !== STS_API_VERSION) {
    throw new AwsError('InvalidAction', `Could not find operation ${action} for version ${params.get('Version') ?? ''}`, 400);
  }
  return params;
}

function readAssumeRequest(params: URLSearchParams): AssumeRequest {
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
  return { roleArn, sessionName, roleMatch, duration };
}

/** The role's trust policy lets the caller in, and the duration fits it. */
function checkRole(state: StsState, request: AssumeRequest, callerArn: string): void {
  const role = state.roles.get(request.roleArn);
  const trusted = role?.trustedPrincipals;
  if (role === undefined || (trusted !== undefined && !trusted.includes(canonicalPrincipalArn(callerArn)))) {
    throw new AwsError('AccessDenied', `User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${request.roleArn}`, 403);
  }
  const { duration } = request;
  if (!(duration >= 900) || duration > 43_200) {
    throw new AwsError('ValidationError', "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", 400);
  }
  if (duration > (role.maxSessionSeconds ?? 3600)) {
    throw new AwsError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.', 400);
  }
}

/** New temporary credentials for the role session, remembered (sessions that ended over an hour ago are forgotten). */
function issue(state: StsState, request: AssumeRequest, callerArn: string, current: number): StsAnswer {
  const { roleArn, sessionName, roleMatch, duration } = request;
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
  for (const [key, identity] of state.identities) {
    if (identity.expiresAt !== undefined && identity.expiresAt + 3_600_000 < current) state.identities.delete(key);
  }
  state.identities.set(issued.accessKeyId, issued);
  const expiration = new Date(expiresAt);
  state.sessions.push({ roleArn, sessionName, accessKeyId: issued.accessKeyId, assumedRoleArn, expiration, issuedTo: callerArn });
  const Credentials = {
    AccessKeyId: issued.accessKeyId,
    SecretAccessKey: issued.secretAccessKey,
    SessionToken: issued.sessionToken,
    Expiration: expiration.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  return { action: 'AssumeRole', result: { AssumedRoleUser: { AssumedRoleId: issued.userId, Arn: assumedRoleArn }, Credentials } };
}

export async function assumeRole(state: StsState, req: IncomingMessage, body: Buffer): Promise<StsAnswer> {
  const params = readForm(req, body);
  const current = state.now();
  const identityFor = (accessKeyId: string): KnownIdentity | undefined => state.identities.get(accessKeyId);
  const caller = await verifySignature(req, body, { service: 'sts', region: undefined, identityFor, codes: STS_SIGNATURE_ERRORS }, current);
  const callerArn = state.identities.get(caller.accessKeyId)?.arn ?? '';
  const request = readAssumeRequest(params);
  checkRole(state, request, callerArn);
  return issue(state, request, callerArn, current);
}
