const MINUTE = 60 * 1000;

/** A coarse human duration: "2h", "1d 4h", "45m"; rounded up to the minute, "now" when <= 0. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms <= 0) return 'now';
  const totalMinutes = Math.ceil(ms / MINUTE);
  const days = Math.floor(totalMinutes / 1440);
  const hours = Math.floor((totalMinutes % 1440) / 60);
  const minutes = totalMinutes % 60;
  if (days > 0) return hours > 0 ? `${days}d ${hours}h` : `${days}d`;
  if (hours > 0) return minutes > 0 ? `${hours}h ${minutes}m` : `${hours}h`;
  return `${minutes}m`;
}

/** "[1 2]", the way GKE prints CA generations. */
export function formatGenerations(generations: readonly number[]): string {
  return `[${generations.join(' ')}]`;
}

export function formatInstant(ms: number): string {
  return new Date(ms).toISOString();
}
