/** Aligned tables and durations for people; nothing here decides anything. */

/** Columns padded to their widest cell, a dashed rule under the header (numbers right-aligned). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], rightAligned: readonly number[] = []): string[] {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (rightAligned.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)];
}

/** kubeadm's residual time: `364d`, `23h`, `<invalid>` once past; `-` when unknown. */
export function residual(ms: number | null): string {
  if (ms === null) return '-';
  if (ms <= 0) return '<invalid>';
  const hours = Math.floor(ms / 3_600_000);
  if (hours >= 48) return `${Math.floor(hours / 24)}d`;
  if (hours >= 1) return `${hours}h`;
  return `${Math.max(1, Math.floor(ms / 60_000))}m`;
}

/** `2027-01-01T00:00:00.000Z` as `Jan 01, 2027 00:00 UTC` (kubeadm's style); `-` when absent. */
export function date(iso: string | null): string {
  if (iso === null) return '-';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const month = at.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  return `${month} ${String(at.getUTCDate()).padStart(2, '0')}, ${at.getUTCFullYear()} ${at.toISOString().slice(11, 16)} UTC`;
}
