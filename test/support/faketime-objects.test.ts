import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sweepStaleFaketimeObjects } from './tls-tools.js';

const made: string[] = [];
afterEach(() => {
  for (const directory of made.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe('sweepStaleFaketimeObjects', () => {
  it("removes what libfaketime left for a process that is gone, and keeps a live process's and anything else", () => {
    const directory = mkdtempSync(join(tmpdir(), 'shm-'));
    made.push(directory);
    const gone = spawnSync('true').pid;
    if (gone === undefined) throw new Error('no process id for a finished process');
    const names = [`faketime_shm_${gone}`, `sem.faketime_sem_${gone}`, `faketime_shm_${process.pid}`, `sem.faketime_sem_${process.pid}`, 'faketime_shm_notanumber', 'other'];
    for (const name of names) writeFileSync(join(directory, name), '');

    expect(sweepStaleFaketimeObjects(directory)).toBe(2);
    expect(names.filter((name) => existsSync(join(directory, name)))).toEqual(names.slice(2));
  });
});
