import { DescribeClusterCommand, EKSClient, ResourceNotFoundException } from '@aws-sdk/client-eks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EKS_TOKEN_LIFETIME_MS, createEksToken, decodeEksToken } from '../../lib/aws/eks-token.js';
import { assumeRole } from '../../lib/aws/sts-assume-role.js';
import { canonicalPrincipalArn, eksTokenVerifier, startLocalEks, startLocalSts } from '../../lib/local/eks-endpoints.js';
import type { LocalEks, LocalSts } from '../../lib/local/eks-endpoints.js';

const user = { accessKeyId: 'AKIDPUBLISHER', secretAccessKey: 'publisher-secret', arn: 'arn:aws:iam::111122223333:user/publisher', userId: 'AIDAPUBLISHER' };
const role = {
  accessKeyId: 'ASIAROLE',
  secretAccessKey: 'role-secret',
  sessionToken: 'role-session-token',
  arn: 'arn:aws:sts::111122223333:assumed-role/certrotate-publisher/session-1',
  userId: 'AROAROLE:session-1',
};

let now = Date.now();
let sts: LocalSts;
let eks: LocalEks;
let client: EKSClient;

beforeAll(async () => {
  sts = await startLocalSts({ identities: [user, role], now: () => now });
  eks = await startLocalEks({ region: 'eu-west-1', clusters: [{ name: 'prod-eu', endpoint: 'https://127.0.0.1:6443', caData: Buffer.from('PEM').toString('base64') }] });
  client = new EKSClient({ endpoint: eks.endpoint, region: 'eu-west-1', credentials: eks.credentials, maxAttempts: 1 });
});
afterAll(async () => {
  client.destroy();
  await Promise.all([sts.stop(), eks.stop()]);
});

const tokenFor = async (clusterName: string, credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = user, at = now): Promise<string> =>
  (await createEksToken({ clusterName, region: 'eu-west-1', credentials, now: at, stsEndpoint: sts.endpoint })).token;
const verifier = (clusterName = 'prod-eu') => eksTokenVerifier({ clusterName, stsEndpoints: [sts.endpoint], now: () => now });

describe('local EKS DescribeCluster', () => {
  it('answers the real EKSClient with the endpoint and CA data', async () => {
    const { cluster } = await client.send(new DescribeClusterCommand({ name: 'prod-eu' }));
    expect(cluster).toMatchObject({
      name: 'prod-eu',
      arn: 'arn:aws:eks:eu-west-1:000000000000:cluster/prod-eu',
      endpoint: 'https://127.0.0.1:6443',
      status: 'ACTIVE',
      certificateAuthority: { data: Buffer.from('PEM').toString('base64') },
    });
    expect(cluster?.createdAt).toBeInstanceOf(Date);
    expect(eks.calls()).toEqual({ 'prod-eu': 1 });
  });

  it('answers ResourceNotFoundException for an unknown cluster and refuses a bad signature', async () => {
    await expect(client.send(new DescribeClusterCommand({ name: 'nope' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    const forged = new EKSClient({ endpoint: eks.endpoint, region: 'eu-west-1', credentials: { ...eks.credentials, secretAccessKey: 'wrong' }, maxAttempts: 1 });
    await expect(forged.send(new DescribeClusterCommand({ name: 'prod-eu' }))).rejects.toMatchObject({ name: 'InvalidSignatureException', $metadata: { httpStatusCode: 403 } });
    forged.destroy();
  });
});

describe('local STS and the cluster-side token verifier', () => {
  it('accepts a current token for this cluster and names the caller', async () => {
    expect(await verifier()(await tokenFor('prod-eu'))).toEqual({
      username: 'arn:aws:iam::111122223333:user/publisher',
      uid: 'aws-iam-authenticator:111122223333:AIDAPUBLISHER',
      groups: [],
    });
    // Temporary credentials: the session token rides in the URL; the role ARN is canonicalized.
    expect((await verifier()(await tokenFor('prod-eu', role)))?.username).toBe('arn:aws:iam::111122223333:role/certrotate-publisher');
    expect(canonicalPrincipalArn('arn:aws:iam::1:user/x')).toBe('arn:aws:iam::1:user/x');
  });

  it('answers GetCallerIdentity as XML unless JSON is asked for', async () => {
    const url = decodeEksToken(await tokenFor('prod-eu'));
    const response = await fetch(url ?? '', { headers: { 'x-k8s-aws-id': 'prod-eu' } });
    expect(response.status).toBe(200);
    const xml = await response.text();
    expect(xml).toContain('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">');
    expect(xml).toContain('<Arn>arn:aws:iam::111122223333:user/publisher</Arn>');
    expect(xml).toContain('<Account>111122223333</Account>');
  });

  it('refuses a token for another cluster: x-k8s-aws-id is signed', async () => {
    const token = await tokenFor('prod-us');
    expect(await verifier('prod-eu')(token)).toBeUndefined();
    const url = decodeEksToken(token);
    const response = await fetch(url ?? '', { headers: { 'x-k8s-aws-id': 'prod-eu' } });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });

  it('asks STS once for requests that arrive together with the same token, and again once its cache time is over', async () => {
    const token = await tokenFor('prod-eu');
    const verify = verifier();
    const before = sts.calls();
    const users = await Promise.all(Array.from({ length: 5 }, () => verify(token)));
    expect(users.every((caller) => caller?.username === users[0]?.username && caller !== undefined)).toBe(true);
    expect(sts.calls() - before).toBe(1);
    const start = now;
    try {
      now = start + 3 * 60_000;
      expect(await verify(token)).toBeDefined();
      expect(sts.calls() - before).toBe(2);
    } finally {
      now = start;
    }
  });

  it('accepts a token for 15 minutes after its X-Amz-Date (STS ignores X-Amz-Expires=60), not after', async () => {
    const signedAt = now;
    const token = await tokenFor('prod-eu', user, signedAt);
    try {
      now = signedAt + 61_000;
      expect(await verifier()(token)).toBeDefined();
      now = signedAt + EKS_TOKEN_LIFETIME_MS - 1000;
      expect(await verifier()(token)).toBeDefined();
      now = signedAt + EKS_TOKEN_LIFETIME_MS + 1000;
      expect(await verifier()(token)).toBeUndefined();
      const response = await fetch(decodeEksToken(token) ?? '', { headers: { 'x-k8s-aws-id': 'prod-eu' } });
      expect(await response.text()).toContain('<Code>ExpiredToken</Code>');
    } finally {
      now = signedAt;
    }
  });

  it('refuses tampered, unknown, wrong-secret and session-less tokens, and never calls an STS it does not trust', async () => {
    const good = decodeEksToken(await tokenFor('prod-eu'));
    if (good === undefined) throw new Error('no URL');
    const tampered = new URL(good);
    tampered.searchParams.set('X-Amz-Signature', '0'.repeat(64));
    const encode = (url: URL): string => `k8s-aws-v1.${Buffer.from(url.toString()).toString('base64url')}`;
    expect(await verifier()(encode(tampered))).toBeUndefined();
    expect(await verifier()(await tokenFor('prod-eu', { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'x' }))).toBeUndefined();
    expect(await verifier()(await tokenFor('prod-eu', { ...user, secretAccessKey: 'wrong' }))).toBeUndefined();
    expect(await verifier()(await tokenFor('prod-eu', { ...role, sessionToken: 'other' }))).toBeUndefined();
    const before = sts.calls();
    const elsewhere = new URL(good);
    elsewhere.host = '127.0.0.2:1';
    expect(await verifier()(encode(elsewhere))).toBeUndefined();
    const extra = new URL(good);
    extra.searchParams.set('Action', 'AssumeRole');
    expect(await verifier()(encode(extra))).toBeUndefined();
    expect(await verifier()('not-a-token')).toBeUndefined();
    expect(sts.calls()).toBe(before);
  });
});

describe('local STS AssumeRole', () => {
  const ROLE = 'arn:aws:iam::111122223333:role/publisher';
  const form = (fields: Record<string, string>) => new URLSearchParams({ Action: 'AssumeRole', Version: '2011-06-15', ...fields }).toString();

  it('answers only signed, form-encoded AssumeRole requests with the parameters it needs', async () => {
    const unsigned = await fetch(`${sts.endpoint}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form({ RoleArn: ROLE, RoleSessionName: 'certrotate' }),
    });
    expect(unsigned.status).toBe(403);
    expect(await unsigned.text()).toContain('<Code>MissingAuthenticationToken</Code>');
    const json = await fetch(`${sts.endpoint}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(400);
    const other = await fetch(`${sts.endpoint}/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form({ Action: 'GetSessionToken' }) });
    expect(await other.text()).toContain('<Code>InvalidAction</Code>');
    const before = sts.calls();
    expect(sts.assumeRoleCalls()).toBe(3);
    expect(sts.calls()).toBe(before);
  });

  it('holds a role to its longest session, and answers the session ARN with the role name only', async () => {
    const local = await startLocalSts({ identities: [user], roles: [{ arn: 'arn:aws:iam::111122223333:role/team/publisher', maxSessionSeconds: 1800 }], now: () => now });
    try {
      const request = { roleArn: 'arn:aws:iam::111122223333:role/team/publisher', sessionName: 'certrotate', credentials: user, region: 'eu-west-1', now, endpoint: local.endpoint };
      await expect(assumeRole({ ...request, durationSeconds: 3600 })).rejects.toMatchObject({ code: 'ValidationError', status: 400, retryable: false });
      const issued = await assumeRole({ ...request, durationSeconds: 1800 });
      expect(issued.expiration.getTime()).toBe(Math.floor(now / 1000) * 1000 + 1_800_000);
      const verify = eksTokenVerifier({ clusterName: 'prod-eu', stsEndpoints: [local.endpoint], now: () => now });
      const token = (await createEksToken({ clusterName: 'prod-eu', region: 'eu-west-1', credentials: issued, now, stsEndpoint: local.endpoint })).token;
      // The authenticator names the role without its path, as EKS does.
      const caller = await verify(token);
      expect(caller?.username).toBe('arn:aws:iam::111122223333:role/publisher');
      expect(caller?.uid).toMatch(/^aws-iam-authenticator:111122223333:AROA[0-9A-F]{17}:certrotate$/);
      expect(local.sessions()).toEqual([expect.objectContaining({ assumedRoleArn: 'arn:aws:sts::111122223333:assumed-role/publisher/certrotate', issuedTo: user.arn })]);
    } finally {
      await local.stop();
    }
  });
});
