/**
 * `--stack NAME`: the CLI finds the command function in the stack's outputs (CloudFormation
 * DescribeStacks, here moto's) and invokes it (here a local Lambda endpoint, reached through the
 * SDK's AWS_ENDPOINT_URL_LAMBDA), with credentials and region from the standard SDK chain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRequest } from '@smithy/protocol-http';
import { sigv4Signer } from '../../lib/aws/sigv4.js';
import { LOCAL_CREDENTIALS } from '../../lib/local/kit/aws-error.js';
import { startLocalLambda, type LocalLambda } from '../../lib/local/lambda/server.js';
import { startMoto, type MotoServer } from '../aws/moto-server.js';
import { cli, json } from './support.js';

let moto: MotoServer;
let lambda: LocalLambda;
const invoked: unknown[] = [];

async function createStack(name: string, outputs: Record<string, string>): Promise<void> {
  const template = {
    Resources: { Handle: { Type: 'AWS::CloudFormation::WaitConditionHandle' } },
    Outputs: Object.fromEntries(Object.entries(outputs).map(([key, value]) => [key, { Value: value }])),
  };
  const url = new URL(moto.endpoint);
  const body = new URLSearchParams({ Action: 'CreateStack', Version: '2010-05-15', StackName: name, TemplateBody: JSON.stringify(template) }).toString();
  const request = new HttpRequest({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded' }, body });
  const signed = await sigv4Signer('cloudformation', 'us-east-1', LOCAL_CREDENTIALS).sign(request);
  const response = await fetch(url, { method: 'POST', headers: signed.headers, body });
  if (!response.ok) throw new Error(`CreateStack: ${response.status} ${await response.text()}`);
}

const env = () => ({
  CERTROTATE_ENDPOINT: undefined,
  AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  AWS_REGION: 'us-east-1',
  AWS_ENDPOINT_URL_CLOUDFORMATION: moto.endpoint,
  AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint,
});

beforeAll(async () => {
  moto = await startMoto();
  lambda = await startLocalLambda({
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    functions: {
      'prod-certrotate-command-X1': (event) => {
        invoked.push(event);
        return Promise.resolve({ ok: true, action: 'history', authority: 'cluster', entries: [] });
      },
    },
  });
  // The outputs infra/parts/outputs.ts gives (stable logical ids), and a stack deployed before them.
  await createStack('certrotate', { CommandFunctionName: 'prod-certrotate-command-X1', StateTableName: 'table', StatusCommand: 'npx certrotate status --stack certrotate --region us-east-1' });
  await createStack('older', { RotationCommandFunctionName0250D57F: 'prod-certrotate-command-X1', RotationStateTableName6A1E63C3: 'table' });
  await createStack('two-rotations', { ACommandFunctionName1: 'a', BCommandFunctionName2: 'b' });
}, 60_000);

afterAll(async () => {
  await lambda.stop();
  await moto.stop();
});

describe('certrotate --stack', () => {
  it('invokes the function the stack names, and refuses a missing stack or an ambiguous one in one line', async () => {
    const [found, older, missing, ambiguous] = await Promise.all([
      cli(['history', 'cluster', '--stack', 'certrotate', '--json'], env()),
      cli(['history', 'cluster', '--stack', 'older', '--json'], env()),
      cli(['history', 'cluster', '--stack', 'absent'], env()),
      cli(['history', 'cluster', '--stack', 'two-rotations'], env()),
    ]);
    expect(found.code).toBe(0);
    expect(json(found)).toMatchObject({ action: 'history', authority: 'cluster' });
    expect(older.code).toBe(0);
    expect(invoked).toEqual([{ action: 'history', authority: 'cluster' }, { action: 'history', authority: 'cluster' }]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^certrotate: CloudFormation DescribeStacks absent: .*does not exist/m);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/2 certrotate command functions \(a, b\): pass --function NAME/);
    for (const result of [missing, ambiguous]) expect(result.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
