import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  EKS_TOKEN_LIFETIME_MS,
  EKS_TOKEN_PREFIX,
  EksTokenSource,
  createEksToken,
  decodeEksToken,
  stsEndpointFor,
} from '../../lib/aws/eks-token.js';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const NOW = Date.UTC(2024, 4, 6, 7, 8, 9);

describe('createEksToken', () => {
  it('is k8s-aws-v1. + unpadded base64url of a presigned STS GetCallerIdentity URL', async () => {
    const { token, url, expiresAt } = await createEksToken({ clusterName: 'prod-eu', region: 'eu-west-1', credentials, now: NOW });
    expect(token.startsWith(EKS_TOKEN_PREFIX)).toBe(true);
    const encoded = token.slice(EKS_TOKEN_PREFIX.length);
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(encoded, 'base64url').toString('utf8')).toBe(url);
    expect(expiresAt).toBe(NOW + 15 * 60_000);

    const parsed = decodeEksToken(token);
    expect(parsed?.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(parsed?.pathname).toBe('/');
    const params = parsed?.searchParams;
    expect(params?.get('Action')).toBe('GetCallerIdentity');
    expect(params?.get('Version')).toBe('2011-06-15');
    expect(params?.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(params?.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20240506/eu-west-1/sts/aws4_request');
    expect(params?.get('X-Amz-Date')).toBe('20240506T070809Z');
    expect(params?.get('X-Amz-Expires')).toBe('60');
    expect(params?.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(params?.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(params?.has('X-Amz-Security-Token')).toBe(false);
    // The cluster name travels as a signed header, never in the URL.
    expect(url).not.toContain('prod-eu');
  });

  it('matches an independent SigV4 computation of the presigned URL (AWS reference algorithm)', async () => {
    const { url } = await createEksToken({ clusterName: 'prod-eu', region: 'eu-west-1', credentials, now: NOW });
    const parsed = new URL(url);
    const rfc3986 = (v: string): string => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const canonicalQuery = [...parsed.searchParams.entries()]
      .filter(([key]) => key !== 'X-Amz-Signature')
      .map(([key, value]) => `${rfc3986(key)}=${rfc3986(value)}`)
      .sort()
      .join('&');
    const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
    const canonicalRequest = ['GET', '/', canonicalQuery, 'host:sts.eu-west-1.amazonaws.com', 'x-k8s-aws-id:prod-eu', '', 'host;x-k8s-aws-id', sha256('')].join('\n');
    const scope = '20240506/eu-west-1/sts/aws4_request';
    const stringToSign = ['AWS4-HMAC-SHA256', '20240506T070809Z', scope, sha256(canonicalRequest)].join('\n');
    let key: Buffer = Buffer.from(`AWS4${credentials.secretAccessKey}`);
    for (const part of ['20240506', 'eu-west-1', 'sts', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    expect(parsed.searchParams.get('X-Amz-Signature')).toBe(createHmac('sha256', key).update(stringToSign).digest('hex'));
  });

  it('signs the cluster name: another cluster or instant gives another signature', async () => {
    const signature = async (clusterName: string, now: number): Promise<string | null | undefined> =>
      decodeEksToken((await createEksToken({ clusterName, region: 'eu-west-1', credentials, now })).token)?.searchParams.get('X-Amz-Signature');
    const a = await signature('prod-eu', NOW);
    expect(await signature('prod-eu', NOW)).toBe(a);
    expect(await signature('prod-us', NOW)).not.toBe(a);
    expect(await signature('prod-eu', NOW + 1000)).not.toBe(a);
  });

  it('carries a session token and honours an STS endpoint override', async () => {
    const { token } = await createEksToken({
      clusterName: 'c',
      region: 'us-east-2',
      credentials: { ...credentials, sessionToken: 'FwoG/ZXIvYXdz+token==' },
      now: NOW,
      stsEndpoint: 'http://127.0.0.1:4566',
    });
    const url = decodeEksToken(token);
    expect(url?.origin).toBe('http://127.0.0.1:4566');
    expect(url?.searchParams.get('X-Amz-Security-Token')).toBe('FwoG/ZXIvYXdz+token==');
    expect(url?.searchParams.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20240506/us-east-2/sts/aws4_request');
    expect(stsEndpointFor('cn-north-1')).toBe('https://sts.cn-north-1.amazonaws.com.cn');
  });

  it('decodes only well-formed tokens', () => {
    expect(decodeEksToken('Bearer abc')).toBeUndefined();
    expect(decodeEksToken(`${EKS_TOKEN_PREFIX}not base64!`)).toBeUndefined();
    expect(decodeEksToken(EKS_TOKEN_PREFIX + Buffer.from('not a url').toString('base64url'))).toBeUndefined();
  });
});

describe('EksTokenSource', () => {
  it('reuses a token until a minute before it expires, then makes a new one', async () => {
    let now = NOW;
    const source = new EksTokenSource({ credentials, clock: { now: () => now } });
    const target = { clusterName: 'prod-eu', region: 'eu-west-1' };
    const first = await source.token(target);
    now = NOW + EKS_TOKEN_LIFETIME_MS - 60_001;
    expect(await source.token(target)).toBe(first);
    expect(await source.token({ ...target, clusterName: 'other' })).not.toBe(first);
    now = NOW + EKS_TOKEN_LIFETIME_MS - 60_000;
    const second = await source.token(target);
    expect(second).not.toBe(first);
    expect(decodeEksToken(second)?.searchParams.get('X-Amz-Date')).toBe('20240506T072209Z');
    source.invalidate(target);
    now += 1000;
    expect(await source.token(target)).not.toBe(second);
  });

  it('never caches past the credentials expiry, and resolves credential providers', async () => {
    let now = NOW;
    let resolved = 0;
    const source = new EksTokenSource({
      credentials: () => {
        resolved += 1;
        return Promise.resolve({ ...credentials, expiration: new Date(now + 5 * 60_000) });
      },
      clock: { now: () => now },
    });
    const target = { clusterName: 'prod-eu', region: 'eu-west-1' };
    const first = await source.token(target);
    now += 3 * 60_000;
    expect(await source.token(target)).toBe(first);
    now += 60_000 + 1;
    expect(await source.token(target)).not.toBe(first);
    expect(resolved).toBe(2);
  });

  it('uses role credentials for a target with a role, and refuses a role it cannot assume', async () => {
    const roles: string[] = [];
    const source = new EksTokenSource({
      credentials,
      credentialsForRole: (roleArn) => {
        roles.push(roleArn);
        return { accessKeyId: 'ASIAROLE', secretAccessKey: 'role-secret', sessionToken: 'role-session' };
      },
      clock: { now: () => NOW },
    });
    const roleArn = 'arn:aws:iam::123456789012:role/publisher';
    const token = await source.token({ clusterName: 'c', region: 'eu-west-1', roleArn });
    expect(decodeEksToken(token)?.searchParams.get('X-Amz-Credential')).toMatch(/^ASIAROLE\//);
    await source.token({ clusterName: 'd', region: 'eu-west-1', roleArn });
    expect(roles).toEqual([roleArn]);
    const plain = new EksTokenSource({ credentials, clock: { now: () => NOW } });
    await expect(plain.token({ clusterName: 'c', region: 'eu-west-1', roleArn })).rejects.toThrow(/configured with role .* no way to assume roles/);
  });
});
