/**
 * `certrotate plan` and `certrotate status` as an operator reads them about the AWS trust targets:
 * the CLI as a child process, talking to the command function (functions/command.ts) behind a
 * local Lambda endpoint, over the local ELBv2, API Gateway and ACM, on a clock the test moves.
 */
import 'reflect-metadata';
import { afterEach, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/command.js';
import { DynamoDbRequestLedger } from '../../lib/aws/dynamodb-request-ledger.js';
import { runCommand } from '../../lib/engine/commands.js';
import { LOCAL_CREDENTIALS } from '../../lib/local/kit/aws-error.js';
import { startLocalLambda, type LocalLambda } from '../../lib/local/lambda/server.js';
import { fileTools } from '../../lib/local/sandbox/tools.js';
import { SANDBOX_FUNCTIONS } from '../../lib/local/sandbox/names.js';
import { Issuer, generateCa } from '../../lib/pki/index.js';
import { AwsTrustSite, MINUTE } from '../support/aws-trust.js';
import { DAY } from '../support/pki.js';
import { cli, json, type CliRun } from './support.js';

let site: AwsTrustSite | undefined;
let lambda: LocalLambda | undefined;
let closeLog: (() => Promise<void>) | undefined;
afterEach(async () => {
  await lambda?.stop();
  await closeLog?.();
  await site?.stop();
  [site, lambda, closeLog] = [undefined, undefined, undefined];
});

/** A settled site and the command function over it; `run` is the CLI against it. */
async function start(): Promise<{ at: AwsTrustSite; run: (...args: string[]) => Promise<CliRun> }> {
  const at = await AwsTrustSite.start(0);
  site = at;
  await at.run('boot', { mode: 'reconcile' });
  at.now += MINUTE;
  await at.run('settle', { mode: 'reconcile' });
  const { local } = at;
  const log = fileTools('/dev/null');
  closeLog = log.close;
  const deps = {
    certificates: local.certificates,
    caKeys: local.kms.caKeys,
    state: local.state,
    ledger: new DynamoDbRequestLedger({ client: local.clients.dynamodb, tableName: local.tableName }),
    config: at.cfg,
    awsTrust: at.aws.adapters,
  };
  const command = createHandler({ clock: { now: () => at.now }, deps: () => deps, tools: log.tools });
  const started = await startLocalLambda({ region: 'us-east-1', credentials: LOCAL_CREDENTIALS, functions: { [SANDBOX_FUNCTIONS.command]: command } });
  lambda = started;
  return { at, run: (...args) => cli([...args, '--endpoint', started.endpoint], { CERTROTATE_ENDPOINT: undefined }) };
}

describe('certrotate plan and status with AWS trust targets', () => {
  it('plan prints what the next step writes where, and nothing at Stable; --json has the writes', async () => {
    const { at, run } = await start();
    const stable = await run('plan', 'cluster');
    expect(stable.code).toBe(0);
    expect(stable.stdout).toMatch(/^cluster: next step none: .*\n {2}writes nothing$/m);

    at.aws.elbv2.setPropagationMs(3 * 60 * MINUTE);
    await runCommand(at.local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, at.now);
    at.now += MINUTE;
    await at.run('publish');
    at.now += 11 * MINUTE;
    const [text, document] = await Promise.all([run('plan', 'cluster', '--deep'), run('plan', 'cluster', '--json')]);
    expect(text.code).toBe(0);
    const [, heading, header, rule, row, after] = text.stdout.split('\n');
    expect([heading, row, after]).toEqual(['  writes:', '    elbv2-trust-store  ELBv2 trust store clients (us-east-1, s3://pki-bundles/cluster/alb.pem)  bundle [1 2]', '']);
    expect(header).toMatch(/^ {4}KIND {15}WHERE {68}WHAT$/);
    expect(rule).toMatch(/^ {4}-{17} {2}-{71} {2}-{12}$/);
    const [entry] = json(document).authorities as Record<string, unknown>[];
    expect(entry).toMatchObject({
      step: { kind: 'publish-bundle' },
      source: 'inventory',
      writes: [{ consumer: 'elbv2-trust-store:us-east-1/clients', kind: 'elbv2-trust-store', location: { region: 'us-east-1', trustStore: 'clients' }, what: 'bundle [1 2]' }],
    });
  }, 60_000);

  it('status prints the truststore warnings of an API Gateway domain, quoted and bounded', async () => {
    const { at, run } = await start();
    const other = await generateCa({ authority: 'other', generation: 1, now: at.now - DAY, lifetimeMs: 30 * DAY });
    const extras = await Promise.all(['extra-1', 'extra-2'].map((cn) => Issuer.fromCaGeneration(other).issueLeaf({ subject: `CN=${cn}`, usage: 'client', lifetimeMs: 5 * DAY }, at.now - DAY)));
    const bundle = await at.local.certificates.readBundle('cluster');
    const target = at.cfg.authorities[0]?.consumers?.apiGatewayDomains?.[0];
    if (bundle === undefined || target === undefined) throw new Error('not bootstrapped');
    await at.aws.adapters.domains.publish(target, bundle + extras.map((leaf) => leaf.certificatePem).join(''));
    const [text, document] = await Promise.all([run('status', 'cluster'), run('status', 'cluster', '--json')]);
    expect(text.code).toBe(3);
    const domain = 'API Gateway domain api.example.com (us-east-1, s3://pki-bundles/cluster/api.pem)';
    expect(text.stdout).toContain(`; consumers 1/2: ${domain} truststore warnings: "Certificate CN=extra-1 is not a CA certificate." (+1 more)`);
    expect(text.stdout).toContain(`\n  ${domain} truststore warnings: "Certificate CN=extra-1 is not a CA certificate.", "Certificate CN=extra-2 is not a CA certificate."\n`);
    const [status] = json(document).authorities as Record<string, unknown>[];
    expect(status?.consumers).toMatchObject({ laggards: [`${domain} truststore warnings: "Certificate CN=extra-1 is not a CA certificate." (+1 more)`], findings: [{ label: 'truststore warnings', total: 2 }] });
  }, 60_000);
});
