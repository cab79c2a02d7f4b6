/** A tiny benchmark harness: warm up, then run for a fixed time and report operations per second. */
export interface Measurement {
  name: string;
  opsPerSecond: number;
  iterations: number;
}

export async function measure(
  name: string,
  operation: () => unknown,
  options: { minMs?: number; minIterations?: number; warmup?: number } = {},
): Promise<Measurement> {
  const { minMs = 1000, minIterations = 3, warmup = 3 } = options;
  for (let i = 0; i < warmup; i++) await operation();
  const start = performance.now();
  let iterations = 0;
  while (performance.now() - start < minMs || iterations < minIterations) {
    await operation();
    iterations++;
  }
  const elapsed = performance.now() - start;
  return { name, opsPerSecond: (iterations * 1000) / elapsed, iterations };
}

/** Prints rows as an aligned text table on stderr (stdout is kept for JSON). */
export function printTable(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell)))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) => row.map((cell, column) => cell.padStart(widths[column] ?? 0)).join('  ');
  process.stderr.write(`\n${title}\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const row of cells.slice(1)) process.stderr.write(`${line(row)}\n`);
}

export function formatNumber(value: number): string {
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  if (value >= 1) return value.toFixed(1);
  return value.toFixed(3);
}
