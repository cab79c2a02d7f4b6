/**
 * The sandbox's clock: simulated time running `speed` times faster than the wall clock, from a
 * starting instant (the wall clock on a first start; where the last run stopped on a restart).
 * The handlers get it as their Clock, through the composition root.
 */
import type { Clock } from '../../ports.js';

export class SimulatedClock implements Clock {
  readonly #wallStart: number;

  constructor(
    readonly start: number,
    readonly speed: number,
    private readonly wall: () => number = Date.now,
  ) {
    this.#wallStart = wall();
  }

  now(): number {
    return this.start + Math.floor((this.wall() - this.#wallStart) * this.speed);
  }
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export type SlotKind = 'scan' | 'reconcile' | 'advance';

/** Which production schedule slot `now` is in, per kind: hourly scan (daily reconcile), 5-minute advance. */
export function slotsAt(now: number): { hour: number; day: number; advance: number } {
  return { hour: Math.floor(now / HOUR), day: Math.floor(now / DAY), advance: Math.floor(now / (5 * MINUTE)) };
}
