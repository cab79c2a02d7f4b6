/**
 * The gates on consumers that apply changes on their own time (an ELBv2 trust store, an API Gateway
 * truststore): such a consumer counts as holding a bundle only once a read-back shows it, never
 * because certrotate just wrote it. With soaks that is belt and braces; an emergency rotation skips
 * the soaks, and then it is all that stands between a client presenting a leaf from the new CA and
 * a load balancer that does not trust that CA yet.
 */
import 'reflect-metadata';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../lib/engine/commands.js';
import { AwsTrustSite, MINUTE } from '../support/aws-trust.js';

let site: AwsTrustSite | undefined;
afterEach(async () => {
  await site?.stop();
  site = undefined;
});

describe('an external consumer holds what its read-back shows, not what was written to it', () => {
  it('an emergency rotation through a trust store and a domain that apply changes 45 minutes late never has a client from CA 2 refused by either', async () => {
    site = await AwsTrustSite.start(0);
    await site.run('boot', { mode: 'reconcile' });
    site.now += MINUTE;
    await site.run('settle', { mode: 'reconcile' });
    expect(await site.served()).toEqual({ trustStore: [1], domain: [1], acmIsWebLeaf: true });
    expect((await site.handshakeThrough('load balancer')).ok).toBe(true);

    const propagationMs = 45 * MINUTE;
    site.aws.setPropagationMs(propagationMs);
    await runCommand(site.local.state, 'cluster', { kind: 'rotate-ca', requestId: 'e1', reason: 'key compromise', emergency: true }, site.now);
    const refused: string[] = [];
    const clientGenerations = new Set<number | undefined>();
    let publishedAt: number | undefined;
    let leftTrustExpanded: { at: number; trustStore: number[] | undefined } | undefined;
    for (let i = 0; i < 40; i++) {
      site.now += 5 * MINUTE;
      const report = await site.run(`e${i}`);
      const moves = report.transitions.map((t) => t.to);
      if (moves.includes('TrustExpanded')) publishedAt = site.now;
      if (moves.includes('LeavesMigrated') && leftTrustExpanded === undefined) leftTrustExpanded = { at: site.now, trustStore: (await site.served()).trustStore };
      for (const front of ['load balancer', 'domain'] as const) {
        const handshake = await site.handshakeThrough(front);
        clientGenerations.add(handshake.clientGeneration);
        if (!handshake.ok) refused.push(`tick ${i} (${report.state?.phase ?? '?'}), ${front}: client from CA ${String(handshake.clientGeneration)}: ${handshake.error}`);
      }
      if (report.state?.phase === 'Stable' && report.state.generation === 2) break;
    }
    expect(refused).toEqual([]);
    // The rotation did finish, with the client presenting a leaf from CA 2 through the load balancer.
    expect(clientGenerations).toEqual(new Set([1, 2]));
    expect(publishedAt).toBeDefined();
    expect(leftTrustExpanded?.trustStore).toEqual([1, 2]);
    expect((leftTrustExpanded?.at ?? 0) - (publishedAt ?? 0)).toBeGreaterThanOrEqual(propagationMs);
  });
});
