/**
 * An in-memory world for the phase machine: stored CAs, consumers that pick up a published bundle
 * only after a lag, and leaves in the field. It checks the invariant after every change, and
 * drives ticks the way the real tick does (observe, decide, perform, record), with optional
 * crashes between perform and record and commands that win the race to record.
 */
import { CommandRefusedError } from '../../lib/errors.js';
import { dueLeaves, type RenewalPolicy } from '../../lib/renewal/index.js';
import {
  applyCommand,
  bundleOf,
  decide,
  initialRotationState,
  signerOf,
  type Observations,
  type ObservedCa,
  type RotationCommand,
  type RotationConfig,
  type RotationState,
  type Step,
} from '../../lib/rotation/index.js';

export const HOUR = 60 * 60 * 1000;
export const DAY = 24 * HOUR;
export const T0 = Date.UTC(2030, 0, 1);

interface Consumer {
  id: string;
  holds: number[];
  pending?: { bundle: number[]; at: number };
}

interface Leaf {
  id: string;
  generation: number | undefined;
  notAfter: number | undefined;
}

export interface WorldOptions {
  consumers: number;
  leaves: number;
  leafLifetimeMs: number;
  caLifetimeMs: number;
  /** Lag of one consumer picking up one publish; 0 = at once. */
  lag: () => number;
}

export interface TickOptions {
  /** Crash after performing the step of this iteration (0-based), before recording the state. */
  crashAfter?: number;
  /** Apply this command after performing the step of iteration `at`; the tick's record then fails. */
  race?: { at: number; command: RotationCommand };
}

export class World {
  now = T0;
  readonly cas = new Map<number, ObservedCa>();
  readonly retiredCas = new Set<number>();
  readonly consumers: Consumer[];
  readonly leaves: Leaf[];
  state: RotationState;
  readonly violations: string[] = [];
  readonly performed: Step[] = [];
  generateCalls = 0;

  constructor(
    readonly config: RotationConfig,
    readonly policy: RenewalPolicy,
    readonly options: WorldOptions,
  ) {
    this.state = initialRotationState('cluster', this.now);
    this.consumers = Array.from({ length: options.consumers }, (_, i) => ({ id: `consumer-${i}`, holds: [] }));
    // Leaves start missing: the renewal path issues them once CA 1 is trusted.
    this.leaves = Array.from({ length: options.leaves }, (_, i) => ({
      id: `leaf-${i}`,
      generation: undefined,
      notAfter: undefined,
    }));
  }

  observe(): Observations {
    return {
      caGenerations: [...this.cas.values()],
      consumers: this.consumers.map((c) => ({ id: c.id, holds: [...c.holds] })),
      leaves: this.leaves.map((l) => ({ id: l.id, generation: l.generation })),
    };
  }

  /** Moves the clock, letting consumers pick up pending bundles one at a time, in time order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = this.consumers
        .filter((c) => c.pending !== undefined && c.pending.at <= end)
        .sort((a, b) => (a.pending?.at ?? 0) - (b.pending?.at ?? 0))[0];
      if (next?.pending === undefined) break;
      this.now = Math.max(this.now, next.pending.at);
      next.holds = next.pending.bundle;
      delete next.pending;
      this.check(`${next.id} picked up a bundle`);
    }
    this.now = end;
  }

  perform(step: Step): void {
    this.performed.push(step);
    switch (step.kind) {
      case 'generate-ca':
        this.generateCalls++;
        if (this.state.abandoned.includes(step.generation) || this.retiredCas.has(step.generation)) {
          this.violations.push(`generated CA ${step.generation}, a number already used`);
        }
        // Like CertificateStore.createCa: the stored one wins.
        if (!this.cas.has(step.generation)) {
          this.cas.set(step.generation, {
            generation: step.generation,
            notBefore: this.now,
            notAfter: this.now + this.options.caLifetimeMs,
          });
        }
        break;
      case 'publish-bundle':
        if (step.generations.some((g) => this.retiredCas.has(g))) {
          this.violations.push(`published [${step.generations.join(' ')}] with a retired CA`);
        }
        for (const id of step.consumers) {
          const consumer = this.consumers.find((c) => c.id === id);
          if (consumer === undefined) throw new Error(`publish to unknown consumer ${id}`);
          this.publishTo(consumer, step.generations);
        }
        break;
      case 'reissue-leaves':
        for (const id of step.leafIds) this.issue(id, step.generation);
        break;
      case 'retire-ca':
        this.retiredCas.add(step.generation);
        break;
      case 'wait':
      case 'none':
        break;
    }
    this.check(`performed ${step.kind}`);
  }

  private publishTo(consumer: Consumer, bundle: number[]): void {
    const same = (a: readonly number[]) => a.length === bundle.length && a.every((g, i) => g === bundle[i]);
    // Rewriting the value a consumer is already picking up does not restart its lag.
    if (consumer.pending !== undefined && same(consumer.pending.bundle)) return;
    const lag = this.options.lag();
    if (lag <= 0) {
      consumer.holds = [...bundle];
      delete consumer.pending;
    } else {
      consumer.pending = { bundle: [...bundle], at: this.now + lag };
    }
  }

  private issue(id: string, generation: number): void {
    const leaf = this.leaves.find((l) => l.id === id);
    if (leaf === undefined) throw new Error(`reissue of unknown leaf ${id}`);
    if (!this.cas.has(generation)) this.violations.push(`issued ${id} from CA ${generation}, which is not stored`);
    if (this.retiredCas.has(generation)) this.violations.push(`issued ${id} from retired CA ${generation}`);
    if (this.state.abandoned.includes(generation)) this.violations.push(`issued ${id} from abandoned CA ${generation}`);
    leaf.generation = generation;
    leaf.notAfter = this.now + this.options.leafLifetimeMs;
  }

  /** The invariant: every leaf in the field verifies against the bundle every consumer holds. */
  check(after: string): void {
    for (const leaf of this.leaves) {
      if (leaf.generation === undefined) continue;
      for (const consumer of this.consumers) {
        if (!consumer.holds.includes(leaf.generation)) {
          this.violations.push(
            `${after} at +${((this.now - T0) / HOUR).toFixed(2)}h: ${leaf.id} from CA ${leaf.generation} ` +
              `does not verify at ${consumer.id} holding [${consumer.holds.join(' ')}] (state ${this.state.phase}` +
              `${this.state.rollingBack ? ' rolling back' : ''}${this.state.contracting ? ' contracting' : ''})`,
          );
        }
      }
    }
  }

  /** Leaf renewal, separate from the rotation: issues due leaves from the signer, paused or not. */
  renew(): void {
    const signer = signerOf(this.state);
    if (signer === undefined) return;
    const due = dueLeaves(
      this.leaves.map((l) =>
        l.generation === undefined || l.notAfter === undefined
          ? { id: l.id, problem: 'missing' as const }
          : { id: l.id, generation: l.generation, notAfter: l.notAfter },
      ),
      bundleOf(this.state),
      this.policy,
      this.now,
    );
    for (const leaf of due) this.issue(leaf.id, signer);
    this.check('renewal');
  }

  /** Applies an operator command; false when refused. */
  command(command: RotationCommand): boolean {
    try {
      this.state = applyCommand(this.state, command, this.now);
      return true;
    } catch (error) {
      if (error instanceof CommandRefusedError) return false;
      throw error;
    }
  }

  /** One tick: renew, then observe/decide/perform/record until none or a wait for later. */
  tick(options: TickOptions = {}): Step {
    this.renew();
    for (let i = 0; i < 50; i++) {
      const decision = decide(this.state, this.observe(), this.config, this.now, { kind: 'schedule' });
      this.perform(decision.step);
      if (options.crashAfter === i) return decision.step;
      if (options.race !== undefined && options.race.at === i) {
        // The command's write wins; the tick's conditional write fails with a conflict.
        this.command(options.race.command);
        return decision.step;
      }
      this.state = decision.state;
      // A wait until now means "recorded, decide again at once".
      const again = decision.step.kind === 'wait' && decision.step.until !== undefined && decision.step.until <= this.now;
      if (!again && (decision.step.kind === 'wait' || decision.step.kind === 'none')) return decision.step;
    }
    throw new Error(`tick did not settle in 50 steps (state ${JSON.stringify(this.state)})`);
  }

  /** Whether the authority rests: Stable, nothing pending, and the world agrees with it. */
  isSettled(): boolean {
    const n = this.state.generation;
    return (
      n > 0 &&
      this.state.phase === 'Stable' &&
      this.state.target === undefined &&
      this.state.retiring === undefined &&
      this.consumers.every((c) => c.holds.length === 1 && c.holds[0] === n && c.pending === undefined) &&
      this.leaves.every((l) => l.generation === n)
    );
  }
}
