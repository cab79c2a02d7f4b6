/**
 * A local STS: GetCallerIdentity through a presigned URL (what an EKS cluster's authenticator
 * replays a bearer token to) and AssumeRole (a header-signed POST), answering in XML, or JSON when
 * asked for it.
 */
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { AwsError } from '../kit/aws-error.js';
import { closeServer, headerValue, listenOnLoopback, readBody } from '../kit/http.js';
import { LOCAL_ROLE_ARN, assumeRole, type LocalStsRole, type LocalStsSession, type StsState } from './assume-role.js';
import { presignedCallerIdentity } from './presigned.js';
import { sendSts, type KnownIdentity, type StsAnswer } from './wire.js';

export type { LocalStsRole, LocalStsSession } from './assume-role.js';

export interface LocalStsIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, requests must carry it as X-Amz-Security-Token (temporary credentials). */
  sessionToken?: string;
  /** `arn:aws:iam::<account>:user/name` or `arn:aws:sts::<account>:assumed-role/Role/session`. */
  arn: string;
  userId?: string;
}

export interface LocalStsOptions {
  identities: readonly LocalStsIdentity[];
  /** Roles AssumeRole may hand out credentials for; AccessDenied for any other. */
  roles?: readonly LocalStsRole[];
  now?: () => number;
  port?: number;
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

function initialState(options: LocalStsOptions): StsState {
  const identities = new Map<string, KnownIdentity>(
    options.identities.map((identity) => [identity.accessKeyId, { ...identity, userId: identity.userId ?? identity.accessKeyId }]),
  );
  const roles = new Map<string, LocalStsRole>();
  for (const role of options.roles ?? []) {
    if (!LOCAL_ROLE_ARN.test(role.arn)) throw new Error(`startLocalSts: "${role.arn}" is not an IAM role ARN`);
    roles.set(role.arn, role);
  }
  return { identities, roles, sessions: [], now: options.now ?? Date.now };
}

export async function startLocalSts(options: LocalStsOptions): Promise<LocalSts> {
  const state = initialState(options);
  let count = 0;
  let assumeCount = 0;

  async function handle(req: IncomingMessage): Promise<StsAnswer> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/') throw new AwsError('InvalidAction', 'This local STS answers at / only.', 400);
    if (req.method === 'POST') {
      assumeCount += 1;
      return assumeRole(state, req, body);
    }
    if (req.method !== 'GET') throw new AwsError('InvalidAction', 'This local STS answers presigned GETs and POSTed AssumeRole requests only.', 400);
    count += 1;
    const action = url.searchParams.get('Action');
    if (action !== 'GetCallerIdentity') {
      throw new AwsError('InvalidAction', `Could not find operation ${action ?? ''} for version ${url.searchParams.get('Version') ?? ''}`, 400);
    }
    return presignedCallerIdentity(req, url, (accessKeyId) => state.identities.get(accessKeyId), state.now());
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
    sessions: () => state.sessions.map((session) => ({ ...session, expiration: new Date(session.expiration) })),
    stop: () => closeServer(server),
  };
}
