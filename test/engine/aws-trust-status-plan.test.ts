/**
 * What an operator reads about the AWS trust targets: status naming an API Gateway domain's
 * truststore warnings (bounded, quoted, never key material), and plan listing what the next step
 * writes to each target that lags, and nothing at Stable, as the run that follows then does.
 */
import 'reflect-metadata';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { authorityPlan, authorityStatus } from '../../lib/engine/status.js';
import { tick } from '../../lib/engine/tick.js';
import { Issuer, generateCa } from '../../lib/pki/index.js';
import { AwsTrustSite, CERTIFICATE_ARN, MINUTE } from '../support/aws-trust.js';
import { DAY } from '../support/pki.js';

const TRUST_STORE_ID = 'elbv2-trust-store:us-east-1/clients';
const DOMAIN_ID = 'api-gateway-domain:us-east-1/api.example.com';
const DOMAIN_NAME = 'API Gateway domain api.example.com (us-east-1, s3://pki-bundles/cluster/api.pem)';
/** A subject an operator might paste key bytes into: its warning must never be echoed. */
const KEY_LIKE = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7';

let site: AwsTrustSite | undefined;
afterEach(async () => {
  await site?.stop();
  site = undefined;
});

async function settled(): Promise<AwsTrustSite> {
  site = await AwsTrustSite.start(0);
  await site.run('boot', { mode: 'reconcile' });
  site.now += MINUTE;
  await site.run('settle', { mode: 'reconcile' });
  return site;
}

function cluster(at: AwsTrustSite) {
  const authority = at.cfg.authorities.find((candidate) => candidate.name === 'cluster');
  if (authority === undefined) throw new Error('no cluster');
  return authority;
}

/** The ids of the consumers a run wrote to, from its events. */
function collect(events: { type: string; detail: Record<string, unknown> }[]): string[] {
  return events.filter((event) => event.type === 'consumer-published').map((event) => String(event.detail.consumer));
}

describe('status names an API Gateway domain with truststore warnings, and the warnings', () => {
  it('shows the first warning quoted with a count of the rest, in status, --json, the run report and events; key-like text is never shown', async () => {
    const at = await settled();
    // Out of band, the domain is pointed at a truststore with three client certificates in it.
    const other = await generateCa({ authority: 'other', generation: 1, now: at.now - DAY, lifetimeMs: 30 * DAY });
    const extras = await Promise.all(['extra-1', KEY_LIKE, 'extra-3'].map((cn) => Issuer.fromCaGeneration(other).issueLeaf({ subject: `CN=${cn}`, usage: 'client', lifetimeMs: 5 * DAY }, at.now - DAY)));
    const bundle = await at.local.certificates.readBundle('cluster');
    const target = cluster(at).consumers?.apiGatewayDomains?.[0];
    if (bundle === undefined || target === undefined) throw new Error('not bootstrapped');
    await at.aws.adapters.domains.publish(target, bundle + extras.map((leaf) => leaf.certificatePem).join(''));

    const expected = `${DOMAIN_NAME} truststore warnings: "Certificate CN=extra-1 is not a CA certificate." (+2 more)`;
    const status = await authorityStatus(at.deps, cluster(at), at.now);
    expect(status.consumers.laggards).toEqual([expected]);
    expect(status.status).toContain(expected);
    expect(status.consumers.findings).toEqual([
      {
        consumer: DOMAIN_ID,
        target: DOMAIN_NAME,
        label: 'truststore warnings',
        shown: ['"Certificate CN=extra-1 is not a CA certificate."', '(an item that looks like key material, not shown)', '"Certificate CN=extra-3 is not a CA certificate."'],
        total: 3,
      },
    ]);
    expect(JSON.stringify(status)).not.toContain(KEY_LIKE.slice(0, 20));

    // A run within the republish interval: ConsumersLagging and the refusal event say the same.
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    at.now += MINUTE;
    const [report] = await tick(at.local.deps(at.cfg, { emit: (event) => events.push(event) }), { now: at.now, owner: 'w', mode: 'scan', authorities: ['cluster'] });
    expect(report?.consumers.laggards).toEqual([expected]);
    const refusal = events.find((event) => event.type === 'consumer-rejected');
    expect(refusal?.detail).toMatchObject({ consumer: DOMAIN_ID, status: 400, findings: { label: 'truststore warnings', total: 3 } });
    expect(JSON.stringify(events)).not.toContain(KEY_LIKE.slice(0, 20));
  });
});

describe('plan shows what the next step writes where', () => {
  it('lists no write at Stable', async () => {
    const at = await settled();
    for (const deep of [false, true]) {
      const planned = await authorityPlan(at.deps, cluster(at), at.now, { deep });
      expect(planned.step.kind).toBe('none');
      expect(planned.writes).toEqual([]);
    }
  });

  it('mid-rotation, lists exactly the lagging trust store and its bundle, then the leaves from CA 2 and the ACM copy; the run writes just those', async () => {
    const at = await settled();
    at.aws.elbv2.setPropagationMs(3 * 60 * MINUTE);
    await runCommand(at.local.state, 'cluster', { kind: 'rotate-ca', requestId: 'r1', reason: 'test', emergency: false }, at.now);
    at.now += MINUTE;
    expect((await at.run('publish')).state?.phase).toBe('TrustExpanded');

    // Past the republish interval, only the trust store (still serving [1]) gets [1 2] again.
    at.now += 11 * MINUTE;
    const lagging = {
      consumer: TRUST_STORE_ID,
      kind: 'elbv2-trust-store',
      target: 'ELBv2 trust store clients (us-east-1, s3://pki-bundles/cluster/alb.pem)',
      location: { region: 'us-east-1', trustStore: 'clients' },
      what: 'bundle [1 2]',
    };
    for (const deep of [false, true]) {
      const planned = await authorityPlan(at.deps, cluster(at), at.now, { deep });
      expect(planned.step).toMatchObject({ kind: 'publish-bundle', consumers: [TRUST_STORE_ID] });
      expect(planned.writes).toEqual([lagging]);
    }
    const events: { type: string; detail: Record<string, unknown> }[] = [];
    const deps = at.local.deps(at.cfg, { emit: (event) => events.push(event) });
    await tick(deps, { now: at.now, owner: 'republish', mode: 'scan', authorities: ['cluster'] });
    expect(collect(events)).toEqual([TRUST_STORE_ID]);

    // Once the trust store serves [1 2] and the soak is over, the leaves move to CA 2, web's ACM copy with it.
    at.now += 3 * 60 * MINUTE;
    await tick(deps, { now: at.now, owner: 'gate', mode: 'scan', authorities: ['cluster'] });
    at.now += 61 * MINUTE;
    const planned = await authorityPlan(at.deps, cluster(at), at.now, { deep: true });
    expect(planned.step).toMatchObject({ kind: 'reissue-leaves', generation: 2, leafIds: ['web', 'client'] });
    expect(planned.writes.map((write) => `${write.consumer} <- ${write.what}`)).toEqual([
      'store:leaf/web <- leaf web from CA 2 with ca.crt [1 2]',
      `acm-certificate:${CERTIFICATE_ARN} <- leaf web from CA 2`,
      'store:leaf/client <- leaf client from CA 2 with ca.crt [1 2]',
    ]);
    events.length = 0;
    await tick(deps, { now: at.now, owner: 'migrate', mode: 'scan', authorities: ['cluster'] });
    expect(collect(events)).toEqual([`acm-certificate:${CERTIFICATE_ARN}`]);
    expect(events.filter((event) => event.type === 'leaf-reissued').map((event) => event.detail.leaf).sort()).toEqual(['client', 'web']);
  });
});
