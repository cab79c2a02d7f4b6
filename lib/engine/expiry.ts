/** The earliest expiry an operator and the alarms watch: a leaf, or a CA of the trusted bundle. */
import { bundleOf, type ObservedCa, type RotationState } from '../rotation/index.js';

const DAY = 86_400_000;

export interface Expiring {
  /** What expires: `leaf <id>` or `CA <generation>`. */
  what: string;
  notAfter: number;
}

/** The first of `leaves` and the CAs of `state`'s bundle (expired ones included) to expire. */
export function earliestExpiry(state: RotationState, leaves: readonly Expiring[], cas: readonly ObservedCa[]): Expiring | undefined {
  const bundle = bundleOf(state);
  const trusted = cas.filter((ca) => bundle.includes(ca.generation)).map((ca) => ({ what: `CA ${ca.generation}`, notAfter: ca.notAfter }));
  return [...leaves, ...trusted].reduce<Expiring | undefined>((a, b) => (a === undefined || b.notAfter < a.notAfter ? b : a), undefined);
}

export function daysUntil(ms: number, now: number): number {
  return Math.round(((ms - now) / DAY) * 100) / 100;
}
