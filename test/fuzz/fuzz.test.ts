/**
 * The fuzz suite at CI size: every target of test/fuzz/targets.ts with a fixed seed, a few
 * thousand inputs in all. `npm run fuzz` runs the same targets at full size.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { CI_RUNS, FuzzSession, TARGET_NAMES, runTarget } from './targets.js';

const SEED = 13;
const session = new FuzzSession();
afterAll(() => session.stop());

describe('fuzz (CI size, fixed seed)', () => {
  it.each(TARGET_NAMES)('%s: no crash, only typed errors, no change on a refusal, no key material out', async (target) => {
    const result = await runTarget(session, target, { runs: CI_RUNS[target], seed: SEED });
    expect(result.inputs).toBe(CI_RUNS[target]);
    const reports = result.reports.map((report) => `${report.kind} (${report.count} inputs)\n  counterexample: ${report.counterexample}\n  error: ${report.detail}`);
    expect(reports).toEqual([]);
  }, 120_000);
});
