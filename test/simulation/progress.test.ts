import { describe, expect, it } from 'vitest';
import { drainWithProgress } from '../../lib/simulation/progress.js';

describe('drainWithProgress', () => {
  it('says how many verdicts are in while it waits, and returns once all are', async () => {
    const outstanding = new Set<Promise<void>>();
    for (let i = 0; i < 6; i++) {
      const done: Promise<void> = new Promise<void>((resolve) => setTimeout(resolve, 40 + i * 40)).then(() => {
        outstanding.delete(done);
      });
      outstanding.add(done);
    }
    const lines: string[] = [];
    await drainWithProgress(outstanding, (line) => lines.push(line), 60);
    expect(outstanding.size).toBe(0);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toMatch(/^summary: \d\/6 handshake verdicts in/);
    expect(lines.some((line) => / s left$/.test(line))).toBe(true);
  });
});
