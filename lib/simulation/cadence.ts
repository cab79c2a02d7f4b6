/** The simulation's clock: where it starts, the production cadence's grid, and when a tick is done. */
import type { AuthorityReport } from '../engine/tick.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** The simulated clock starts at a fixed instant, so runs compare. */
export const SIMULATION_START = Date.UTC(2027, 0, 1);

/** After a one-step tick: whether the machine would act again at the same instant. */
export function hasMoreToDo(report: AuthorityReport): boolean {
  if (report.skipped !== undefined) return false;
  const last = report.steps.at(-1);
  // No step listed: the machine asked to decide again at once (a gate already met).
  if (last === undefined) return true;
  return last.kind !== 'none' && last.kind !== 'wait';
}

/** The first slot of `step` on the grid from SIMULATION_START that is at or after `at` and after `now`. */
export function slotAtOrAfter(at: number, now: number, step: number): number {
  const from = Math.max(at, now + 1);
  return SIMULATION_START + Math.ceil((from - SIMULATION_START) / step) * step;
}

/**
 * The instant of the forced rotation of day `day`: its midnight, but on day 0 the first hourly slot
 * after the start, so it meets the bootstrapped authorities it is meant to disturb. At the very
 * first instant the EKS outage it brings would stop the bootstrap itself: every pair of `cluster`
 * then failed as "a leaf secret is missing" in a run as short as `--days 1`.
 */
export function forcedAtOf(day: number): number {
  return day === 0 ? SIMULATION_START + HOUR : SIMULATION_START + day * DAY;
}
