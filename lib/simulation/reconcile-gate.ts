/**
 * When the jumping simulation runs a daily reconcile of an authority that has nothing due: only if
 * the reconcile could find work. A reconcile repairs what was edited out of band (the simulation
 * edits nothing so), re-syncs consumers a failure or an outage left behind, disables the keys of
 * abandoned generations and schedules the deletion of retired keys whose certificates expired.
 * So: after a consumer failure, an outage beginning or ending, or a phase transition since its
 * last reconcile, or once a retired CA's certificate has expired and no reconcile has seen to it.
 */
import type { RotationState } from '../rotation/index.js';

export class ReconcileGate {
  /** Authorities whose next daily reconcile may have work. */
  readonly #wanted = new Set<string>();
  /** `authority/generation` of the retired CAs whose expired key a reconcile has already seen to. */
  readonly #expiredKeysSeen = new Set<string>();

  constructor(
    private readonly stateOf: (authority: string) => RotationState | undefined,
    /** The notAfter of a CA generation (epoch ms), when it can be read. */
    private readonly caEnd: (authority: string, generation: number) => Promise<number | undefined>,
  ) {}

  /** Something happened that the next reconcile of `authority` should look at. */
  want(authority: string): void {
    this.#wanted.add(authority);
  }

  async #expiredRetired(authority: string, now: number): Promise<string[]> {
    const state = this.stateOf(authority);
    const expired: string[] = [];
    for (const generation of [...(state?.retired ?? []), ...(state?.abandoned ?? [])]) {
      const end = await this.caEnd(authority, generation);
      if (end !== undefined && end < now) expired.push(`${authority}/${generation}`);
    }
    return expired;
  }

  /**
   * The authorities the daily reconcile at `now` ticks: those `due` anyway and those it could give
   * work; each of them is then seen to.
   */
  async pick(names: readonly string[], due: (authority: string) => boolean, now: number): Promise<string[]> {
    const picked: string[] = [];
    for (const name of names) if (due(name) || (await this.mayAct(name, now))) picked.push(name);
    for (const name of picked) await this.reconciling(name, now);
    return picked;
  }

  /** Whether a daily reconcile of `authority` at `now` could do anything (see the file comment). */
  async mayAct(authority: string, now: number): Promise<boolean> {
    if (this.#wanted.has(authority) || this.stateOf(authority) === undefined) return true;
    return (await this.#expiredRetired(authority, now)).some((key) => !this.#expiredKeysSeen.has(key));
  }

  /** A daily reconcile of `authority` runs at `now`: what it sees to is no reason for another. */
  async reconciling(authority: string, now: number): Promise<void> {
    this.#wanted.delete(authority);
    for (const key of await this.#expiredRetired(authority, now)) this.#expiredKeysSeen.add(key);
  }
}
