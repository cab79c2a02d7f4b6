import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ASSUME_ROLE_DURATION_SECONDS, assumeRole, roleCredentials } from '../../lib/aws/sts-assume-role.js';
import type { AwsCredentials } from '../../lib/aws/eks-token.js';
import { startMoto, type MotoServer } from './moto-server.js';

const REGION = 'eu-west-1';
const caller = { accessKeyId: 'AKIDMOTOCALLER000001', secretAccessKey: 'moto-caller-secret' };
const PUBLISHER = 'arn:aws:iam::123456789012:role/platform/publisher';

let moto: MotoServer;

beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto.stop();
});

async function callerArn(credentials: AwsCredentials): Promise<string | undefined> {
  const client = new STSClient({ region: REGION, endpoint: moto.endpoint, credentials });
  try {
    return (await client.send(new GetCallerIdentityCommand({}))).Arn;
  } finally {
    client.destroy();
  }
}

describe('assumeRole against moto', () => {
  it('returns temporary credentials for 900 seconds that moto then names as the assumed role', async () => {
    const now = Date.now();
    const issued = await assumeRole({ roleArn: PUBLISHER, sessionName: 'certrotate', credentials: caller, region: REGION, now, endpoint: moto.endpoint });
    expect(issued.accessKeyId).toMatch(/^ASIA[A-Z0-9]{16}$/);
    expect(issued.secretAccessKey).not.toBe('');
    expect(issued.sessionToken).not.toBe('');
    // moto reads its own clock: allow a few seconds either way.
    expect(Math.abs(issued.expiration.getTime() - (now + ASSUME_ROLE_DURATION_SECONDS * 1000))).toBeLessThan(5_000);
    expect(await callerArn(issued)).toBe('arn:aws:sts::123456789012:assumed-role/publisher/certrotate');
  });

  it('reuses a role\'s credentials from moto until they near their end', async () => {
    let now = Date.now();
    const forRole = roleCredentials(caller, { now: () => now }, { region: REGION, endpoint: moto.endpoint, sessionName: 'certrotate-scan' });
    const publisher = forRole(PUBLISHER);
    const first = await publisher();
    expect(await publisher()).toBe(first);
    now += 11 * 60_000;
    const renewed = await publisher();
    expect(renewed.accessKeyId).not.toBe(first.accessKeyId);
    expect(await callerArn(renewed)).toBe('arn:aws:sts::123456789012:assumed-role/publisher/certrotate-scan');
  });
});
