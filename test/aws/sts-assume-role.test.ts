import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEksToken, decodeEksToken } from '../../lib/aws/eks-token.js';
import {
  ASSUME_ROLE_DURATION_SECONDS,
  RoleAccessDeniedError,
  StsError,
  assumeRole,
  roleCredentials,
  type AssumeRoleRequest,
} from '../../lib/aws/sts-assume-role.js';
import { CertrotateError, ValidationError } from '../../lib/errors.js';
import { eksTokenVerifier, startLocalSts, type LocalSts } from '../../lib/local/eks-endpoints.js';

const REGION = 'eu-west-1';
const caller = { accessKeyId: 'AKIDCERTROTATESCAN', secretAccessKey: 'scan-secret-do-not-print', arn: 'arn:aws:iam::111122223333:role/certrotate-scan' };
const PUBLISHER = 'arn:aws:iam::111122223333:role/publisher';
const PATHED = 'arn:aws:iam::444455556666:role/platform/eks/publisher';
const RESTRICTED = 'arn:aws:iam::111122223333:role/restricted';
const UNKNOWN = 'arn:aws:iam::111122223333:role/nobody-configured-this';

let now = Date.UTC(2030, 0, 1, 12, 0, 0, 250);
let sts: LocalSts;

beforeAll(async () => {
  sts = await startLocalSts({
    identities: [caller],
    roles: [{ arn: PUBLISHER }, { arn: PATHED }, { arn: RESTRICTED, trustedPrincipals: ['arn:aws:iam::111122223333:role/someone-else'] }],
    now: () => now,
  });
});
afterAll(async () => {
  await sts.stop();
});

function request(overrides: Partial<AssumeRoleRequest> = {}): AssumeRoleRequest {
  return { roleArn: PUBLISHER, sessionName: 'certrotate', credentials: caller, region: REGION, now, endpoint: sts.endpoint, ...overrides };
}

async function failure(promise: Promise<unknown>): Promise<StsError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof StsError)) throw new Error(`expected an StsError, got ${String(error)}`);
  return error;
}

interface CannedSts {
  endpoint: string;
  /** What it was sent, in order. */
  requests: { headers: IncomingHttpHeaders; body: string }[];
}

/**
 * Runs `use` against an HTTP server that answers every request with this status and body (never,
 * when `body` is undefined), recording what it was sent; stops it afterwards.
 */
async function withCannedSts<T>(status: number, body: string | undefined, use: (canned: CannedSts) => Promise<T>): Promise<T> {
  const requests: CannedSts['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (body !== undefined) res.writeHead(status, { 'content-type': 'text/xml' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await use({ endpoint: `http://127.0.0.1:${port}`, requests });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const credentialsXml = (fields: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>${fields}</Credentials></AssumeRoleResult></AssumeRoleResponse>`;

describe('assumeRole against the local STS', () => {
  it('returns temporary credentials that the local STS then accepts as the assumed role, for 900 seconds', async () => {
    const issued = await assumeRole(request());
    expect(issued.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(issued.secretAccessKey.length).toBeGreaterThanOrEqual(40);
    expect(issued.sessionToken.length).toBeGreaterThan(100);
    // STS answers whole seconds; the session lasts ASSUME_ROLE_DURATION_SECONDS from the request.
    expect(issued.expiration.getTime()).toBe(Math.floor(now / 1000) * 1000 + ASSUME_ROLE_DURATION_SECONDS * 1000);
    expect(sts.sessions().at(-1)).toEqual({
      roleArn: PUBLISHER,
      sessionName: 'certrotate',
      accessKeyId: issued.accessKeyId,
      assumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/publisher/certrotate',
      expiration: issued.expiration,
      issuedTo: caller.arn,
    });

    // A bearer token signed with them names the assumed role, as STS would for a cluster.
    const { token, url } = await createEksToken({ clusterName: 'prod-eu', region: REGION, credentials: issued, now, stsEndpoint: sts.endpoint });
    expect(new URL(url).searchParams.get('X-Amz-Security-Token')).toBe(issued.sessionToken);
    const answer = await fetch(decodeEksToken(token) ?? '', { headers: { 'x-k8s-aws-id': 'prod-eu' } });
    expect(await answer.text()).toContain('<Arn>arn:aws:sts::111122223333:assumed-role/publisher/certrotate</Arn>');
    const verify = eksTokenVerifier({ clusterName: 'prod-eu', stsEndpoints: [sts.endpoint], now: () => now });
    expect((await verify(token))?.username).toBe(PUBLISHER);

    // Once they expire, STS refuses what they sign.
    const start = now;
    try {
      now = issued.expiration.getTime();
      const late = await createEksToken({ clusterName: 'prod-eu', region: REGION, credentials: issued, now, stsEndpoint: sts.endpoint });
      expect(await verify(late.token)).toBeUndefined();
      const refused = await fetch(late.url, { headers: { 'x-k8s-aws-id': 'prod-eu' } });
      expect(await refused.text()).toContain('<Code>ExpiredToken</Code>');
      // Nor can they assume a role any more.
      const chained = await failure(assumeRole(request({ credentials: issued, now })));
      expect(chained).toMatchObject({ code: 'ExpiredToken', status: 403, retryable: true });
    } finally {
      now = start;
    }
  });

  it('signs a form-encoded AssumeRole for sts in the region at the instant it is given', async () => {
    const body = credentialsXml('<AccessKeyId>ASIAEXAMPLEEXAMPLE1</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-01T12:15:00Z</Expiration>');
    const [sent] = await withCannedSts(200, body, async (canned) => {
      await assumeRole(request({ endpoint: canned.endpoint }));
      return canned.requests;
    });
    expect(new URLSearchParams(sent?.body)).toEqual(
      new URLSearchParams({ Action: 'AssumeRole', Version: '2011-06-15', RoleArn: PUBLISHER, RoleSessionName: 'certrotate', DurationSeconds: '900' }),
    );
    expect(sent?.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(sent?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDCERTROTATESCAN\/20300101\/eu-west-1\/sts\/aws4_request, SignedHeaders=[a-z0-9;-]*content-type;host;[a-z0-9;-]*x-amz-date[a-z0-9;-]*, Signature=[0-9a-f]{64}$/);
    expect(sent?.headers['x-amz-date']).toBe('20300101T120000Z');
  });

  it('refuses a wrong secret and an unknown key with a typed error that carries no secret', async () => {
    const wrong = await failure(assumeRole(request({ credentials: { ...caller, secretAccessKey: 'wrong-secret-never-shown' } })));
    expect(wrong).toBeInstanceOf(CertrotateError);
    expect(wrong).toMatchObject({ name: 'StsError', code: 'SignatureDoesNotMatch', status: 403, retryable: false, roleArn: PUBLISHER });
    expect(wrong.message).toContain(PUBLISHER);
    expect(wrong.message).not.toContain('wrong-secret-never-shown');
    const unknown = await failure(assumeRole(request({ credentials: { accessKeyId: 'AKIDNOBODY', secretAccessKey: 'x'.repeat(20) } })));
    expect(unknown).toMatchObject({ code: 'InvalidClientTokenId', status: 403, retryable: false });
  });

  it('answers AccessDenied for a role STS does not let the caller assume, naming the role and never a secret or session token', async () => {
    const denied = await failure(assumeRole(request({ roleArn: UNKNOWN })));
    expect(denied).toBeInstanceOf(RoleAccessDeniedError);
    expect(denied).toMatchObject({ name: 'RoleAccessDeniedError', code: 'AccessDenied', status: 403, retryable: false, roleArn: UNKNOWN });
    expect(denied.message).toContain(`assume role ${UNKNOWN}`);
    expect(denied.message).toContain("trust policy");
    // A role whose trust policy names someone else: the same.
    expect(await failure(assumeRole(request({ roleArn: RESTRICTED })))).toBeInstanceOf(RoleAccessDeniedError);
    // With temporary credentials, neither their secret nor their session token shows.
    const temporary = await assumeRole(request());
    const chained = await failure(assumeRole(request({ roleArn: UNKNOWN, credentials: temporary })));
    expect(chained).toBeInstanceOf(RoleAccessDeniedError);
    for (const secret of [temporary.secretAccessKey, temporary.sessionToken, caller.secretAccessKey]) expect(chained.message).not.toContain(secret);
    expect(JSON.stringify(chained)).not.toContain(temporary.sessionToken);
  });

  it('assumes a role with a path, named in the session ARN by its name alone', async () => {
    await assumeRole(request({ roleArn: PATHED, sessionName: 'certrotate-advance' }));
    expect(sts.sessions().at(-1)?.assumedRoleArn).toBe('arn:aws:sts::444455556666:assumed-role/publisher/certrotate-advance');
  });

  it('checks its input before asking STS', async () => {
    const asked = await withCannedSts(500, '', async (canned) => {
      const bad = (overrides: Partial<AssumeRoleRequest>) => assumeRole(request({ endpoint: canned.endpoint, ...overrides }));
      await expect(bad({ roleArn: 'arn:aws:iam::111122223333:user/publisher' })).rejects.toThrow(ValidationError);
      await expect(bad({ sessionName: 'has space' })).rejects.toThrow(/role session name/);
      await expect(bad({ durationSeconds: 60 })).rejects.toThrow(/900-43200/);
      return canned.requests.length;
    });
    expect(asked).toBe(0);
  });
});

describe('assumeRole reading what comes back', () => {
  const good = '<AccessKeyId>ASIAEXAMPLEEXAMPLE1</AccessKeyId><SecretAccessKey>s3cr3t-from-sts</SecretAccessKey><SessionToken>tok</SessionToken>';
  const answered = (status: number, body: string | undefined, overrides: Partial<AssumeRoleRequest> = {}) =>
    withCannedSts(status, body, (canned) => assumeRole(request({ endpoint: canned.endpoint, ...overrides })));

  it('reads the credentials of an STS answer, entities included', async () => {
    const body = credentialsXml('<AccessKeyId>ASIAEXAMPLEEXAMPLE1</AccessKeyId><SecretAccessKey>a&amp;b/c</SecretAccessKey><SessionToken>t&lt;k</SessionToken><Expiration>2030-01-01T12:15:00Z</Expiration>');
    expect(await answered(200, body)).toEqual({
      accessKeyId: 'ASIAEXAMPLEEXAMPLE1',
      secretAccessKey: 'a&b/c',
      sessionToken: 't<k',
      expiration: new Date('2030-01-01T12:15:00Z'),
    });
  });

  it.each([
    ['a missing session token', credentialsXml('<AccessKeyId>ASIAEXAMPLEEXAMPLE1</AccessKeyId><SecretAccessKey>s3cr3t-from-sts</SecretAccessKey><Expiration>2030-01-01T12:15:00Z</Expiration>')],
    ['a missing expiration', credentialsXml(good)],
    ['credentials already expired', credentialsXml(`${good}<Expiration>2029-12-31T00:00:00Z</Expiration>`)],
    ['an access key id from an entity it does not expand', credentialsXml(`<AccessKeyId>&x;</AccessKeyId><SecretAccessKey>s3cr3t-from-sts</SecretAccessKey><SessionToken>tok</SessionToken><Expiration>2030-01-01T12:15:00Z</Expiration>`).replace('?>\n', '?>\n<!DOCTYPE r [<!ENTITY x "ASIAEXAMPLEEXAMPLE1">]>\n')],
    ['another document', '<GetCallerIdentityResponse><GetCallerIdentityResult/></GetCallerIdentityResponse>'],
    ['JSON', '{"AssumeRoleResponse":{"s3cr3t-from-sts":1}}'],
  ])('refuses %s as a malformed answer, without repeating its contents', async (_what, body) => {
    const error = await failure(answered(200, body));
    expect(error).toMatchObject({ code: 'MalformedResponse', status: 200, retryable: false });
    expect(error.message).not.toContain('s3cr3t-from-sts');
  });

  it('marks throttling, STS outages, an unreachable STS and one that does not answer in time retryable', async () => {
    const throttled = '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>';
    expect(await failure(answered(400, throttled))).toMatchObject({ code: 'Throttling', status: 400, retryable: true });
    expect(await failure(answered(503, 'Service Unavailable'))).toMatchObject({ code: 'HTTP503', status: 503, retryable: true });
    const nowhere = await failure(assumeRole(request({ endpoint: 'http://127.0.0.1:1' })));
    expect(nowhere).toMatchObject({ code: 'NetworkError', status: undefined, retryable: true });
    expect(await failure(answered(200, undefined, { timeoutMs: 200 }))).toMatchObject({ code: 'Timeout', status: undefined, retryable: true });
  });
});

describe('roleCredentials', () => {
  it('reuses a role\'s credentials until 5 minutes before they expire, per role, sharing one request among concurrent callers', async () => {
    const start = now;
    let baseReads = 0;
    const base = () => {
      baseReads += 1;
      return Promise.resolve(caller);
    };
    const forRole = roleCredentials(base, { now: () => now }, { region: REGION, endpoint: sts.endpoint });
    const publisher = forRole(PUBLISHER);
    try {
      const before = sts.assumeRoleCalls();
      const [first, same] = await Promise.all([publisher(), forRole(PUBLISHER)()]);
      expect(same).toBe(first);
      expect(sts.assumeRoleCalls() - before).toBe(1);
      expect(first?.expiration?.getTime()).toBe(Math.floor(start / 1000) * 1000 + 15 * 60_000);

      now = start + 9 * 60_000;
      expect(await publisher()).toBe(first);
      expect(sts.assumeRoleCalls() - before).toBe(1);

      // Another role: its own session.
      const other = await forRole(PATHED)();
      expect(other.accessKeyId).not.toBe(first?.accessKeyId);
      expect(sts.assumeRoleCalls() - before).toBe(2);

      // Within 5 minutes of the end: a new session.
      now = start + 10 * 60_000;
      const renewed = await publisher();
      expect(renewed.accessKeyId).not.toBe(first?.accessKeyId);
      expect(renewed.expiration?.getTime()).toBe(Math.floor(now / 1000) * 1000 + 15 * 60_000);
      expect(sts.assumeRoleCalls() - before).toBe(3);
      expect(baseReads).toBe(3);

      // Failures are not cached: each call asks again.
      const denied = forRole(UNKNOWN);
      await expect(denied()).rejects.toBeInstanceOf(RoleAccessDeniedError);
      await expect(denied()).rejects.toBeInstanceOf(RoleAccessDeniedError);
      expect(sts.assumeRoleCalls() - before).toBe(5);
    } finally {
      now = start;
    }
  });
});
