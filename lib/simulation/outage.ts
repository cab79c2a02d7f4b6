/**
 * The simulated outage: from the forced rotation on, one EKS cluster (and the ELBv2 trust store)
 * is unreachable for some hours, so the rotation has to wait at its gate until it is back.
 * The jumping run also learns from it which ticks cannot act: while a rotating authority's gate
 * waits on the cluster that is down, no tick before it comes back can meet that gate (every
 * phase's gate reads every consumer back), so its advance is left until then. Leaf renewals still
 * tick on time, and `--every-slot` runs every slot regardless.
 */
import type { AuthorityReport } from '../engine/tick.js';

export class Outage {
  /** Rotating authorities whose gate waits on the down cluster, with the instant it comes back. */
  readonly #blocked = new Map<string, number>();

  constructor(
    readonly cluster: string,
    readonly from: number,
    readonly until: number,
  ) {}

  covers(now: number): boolean {
    return now >= this.from && now < this.until;
  }

  /** Records after each tick whether `report`'s gate waits on the down cluster at `now`. */
  observe(report: AuthorityReport, now: number): void {
    const waitsOnDownCluster =
      this.covers(now) &&
      report.gateWaitMs > 0 &&
      report.consumers.failures.some((failure) => failure.kind === 'unavailable' && failure.clusterName === this.cluster);
    if (waitsOnDownCluster) this.#blocked.set(report.authority, this.until);
    else this.#blocked.delete(report.authority);
  }

  /** The instant before which no advance of `authority` can act, if its gate waits on the outage. */
  blockedUntil(authority: string): number | undefined {
    return this.#blocked.get(authority);
  }
}
