import { afterEach, describe, expect, it } from 'vitest';
import { composeDeps } from '../../lib/handlers/compose.js';
import { ConfigurationError, readHandlerEnv } from '../../lib/handlers/env.js';
import { startLocalEnvironment, type LocalEnvironment } from '../../lib/local/environment.js';
import { T0 } from '../support/pki.js';
import { captureOutput, endpointOf, fixture, lambdaContext } from './support.js';

let env: LocalEnvironment | undefined;
afterEach(async () => {
  await env?.stop();
  env = undefined;
});

function configWith(eks: unknown[]): string {
  return JSON.stringify({
    authorities: [{ name: 'cluster', caKeyStore: 'secret', consumers: { eks } }],
    leaves: [{ authority: 'cluster', id: 'api', subject: 'CN=api', usage: 'server', lifetimeDays: 7 }],
  });
}

describe('the functions with EKS consumers', () => {
  it('compose an EksPublisher from the environment and publish the bundle and the leaf to the clusters on a scan', async () => {
    // The functions sign tokens on the wall clock (systemClock), so the local STS checks them on it too.
    env = await startLocalEnvironment({ eksClusters: { names: ['prod-eu'] } });
    const eks = env.eks;
    if (eks === undefined) throw new Error('no clusters');
    const handlerEnv = readHandlerEnv({
      AWS_REGION: env.secretsManager.region,
      CERTROTATE_TABLE_NAME: env.tableName,
      CERTROTATE_CONFIG: configWith(eks.consumerEntries('cluster', ['api'])),
      CERTROTATE_DYNAMODB_ENDPOINT: await endpointOf(env),
      CERTROTATE_SECRETS_MANAGER_ENDPOINT: env.secretsManager.endpoint,
      CERTROTATE_EKS_ENDPOINT: eks.endpoints.eks,
      CERTROTATE_STS_ENDPOINT: eks.endpoints.sts,
    });
    expect(handlerEnv.endpoints).toMatchObject({ eks: eks.endpoints.eks, sts: eks.endpoints.sts });
    const deps = composeDeps(handlerEnv, { credentials: env.secretsManager.credentials });
    expect(deps.publisher).toBeDefined();
    const { createHandler } = await import('../../functions/scan.js');
    const output = captureOutput();
    try {
      const response = await createHandler({ clock: { now: () => T0 }, deps: () => deps })(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'));
      expect(response).toMatchObject({ ok: true, authorities: [{ authority: 'cluster', phase: 'Stable', laggingConsumers: [], gateWaitHours: 0 }] });
    } finally {
      output.restore();
    }
    expect(eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca')).toBe(await env.certificates.readBundle('cluster'));
    const { leaves } = await env.certificates.readLeaves('cluster', ['api']);
    expect(eks.leafCopy('prod-eu', 'certrotate', 'api-tls')?.['tls.crt']).toBe(leaves[0]?.certificatePem);
  });

  it('compose no publisher when no EKS consumer is configured', async () => {
    env = await startLocalEnvironment();
    const deps = composeDeps(
      readHandlerEnv({ AWS_REGION: env.secretsManager.region, CERTROTATE_TABLE_NAME: env.tableName, CERTROTATE_CONFIG: configWith([]) }),
      { credentials: env.secretsManager.credentials },
    );
    expect(deps.publisher).toBeUndefined();
  });

  it('accept a target with a roleArn at cold start, and publish through the role, assumed at the configured STS', async () => {
    const role = 'arn:aws:iam::000000000000:role/certrotate-publisher';
    env = await startLocalEnvironment({ eksClusters: { names: ['prod-eu'], roles: [role], accessEntries: { 'prod-eu': [role] } } });
    const eks = env.eks;
    if (eks === undefined) throw new Error('no clusters');
    const handlerEnv = readHandlerEnv({
      AWS_REGION: env.secretsManager.region,
      CERTROTATE_TABLE_NAME: env.tableName,
      CERTROTATE_CONFIG: configWith(eks.consumerEntries('cluster', ['api'], { roleArn: role })),
      CERTROTATE_DYNAMODB_ENDPOINT: await endpointOf(env),
      CERTROTATE_SECRETS_MANAGER_ENDPOINT: env.secretsManager.endpoint,
      CERTROTATE_EKS_ENDPOINT: eks.endpoints.eks,
      CERTROTATE_STS_ENDPOINT: eks.endpoints.sts,
    });
    expect(handlerEnv.config.authorities[0]?.consumers?.eks.map((target) => target.roleArn)).toEqual([role, role]);
    const deps = composeDeps(handlerEnv, { credentials: env.secretsManager.credentials });
    const { createHandler } = await import('../../functions/scan.js');
    const output = captureOutput();
    try {
      const response = await createHandler({ clock: { now: () => T0 }, deps: () => deps })(fixture('scan.reconcile.v1.json'), lambdaContext('certrotate-scan'));
      expect(response).toMatchObject({ ok: true, authorities: [{ authority: 'cluster', phase: 'Stable', laggingConsumers: [] }] });
    } finally {
      output.restore();
    }
    expect(eks.bundleAt('prod-eu', 'kube-system', 'cluster-ca')).toBe(await env.certificates.readBundle('cluster'));
    // The cluster lets in only the role: the functions signed its tokens with the role's session.
    expect(eks.sts.sessions()).toEqual([expect.objectContaining({ roleArn: role, issuedTo: eks.identityArn, sessionName: 'certrotate' })]);
    expect(new Set(eks.clusters[0]?.kube.requests().map((request) => request.user))).toEqual(new Set([role]));
  });

  it('still refuse at cold start a roleArn that is not an IAM role ARN', () => {
    const read = () =>
      readHandlerEnv({
        AWS_REGION: 'eu-west-1',
        CERTROTATE_TABLE_NAME: 'certrotate-state',
        CERTROTATE_CONFIG: configWith([
          { clusterName: 'prod-eu', region: 'eu-west-1', roleArn: 'arn:aws:iam::123456789012:user/publisher', namespace: 'kube-system', secretName: 'ca', content: 'bundle' },
        ]),
      });
    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(/consumers\.eks\[0\]\.roleArn: "arn:aws:iam::123456789012:user\/publisher" is not an IAM role ARN/);
  });
});
