import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/bundling.js';
import { ConfigFileError, lineAndColumn, readConfigFile } from '../../lib/config/file.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'certrotate-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sample = readFileSync(join(PROJECT_ROOT, 'infra/certrotate.config.json'), 'utf8');

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function refusal(path: string, shownAs?: string): string {
  try {
    readConfigFile(path, shownAs);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigFileError);
    return (error as Error).message;
  }
  throw new Error(`${path} was accepted`);
}

describe('reading a configuration file', () => {
  it('accepts the example file and returns the document as written with the configuration', () => {
    const { document, config } = readConfigFile(join(PROJECT_ROOT, 'infra/certrotate.config.json'));
    expect(document).toEqual(JSON.parse(sample));
    expect(config.authorities.map((authority) => authority.name)).toEqual(['cluster', 'etcd', 'front-proxy']);
  });

  it('names the file, line and column of a JSON syntax error', () => {
    const path = file('missing-comma.json', '{\n  "authorities": []\n  "leaves": []\n}\n');
    expect(refusal(path, 'infra/certrotate.config.json')).toBe("infra/certrotate.config.json:3:3: not valid JSON: Expected ',' or '}' after property value");
    expect(refusal(file('truncated.json', '{\n  "authorities": [\n'), 'c.json')).toBe('c.json:3:1: not valid JSON: the file ends before the JSON does');
  });

  it('names the file and every bad path, beyond the 20 an error message shows elsewhere', () => {
    const document = JSON.parse(sample) as { leaves: Record<string, unknown>[] };
    const leaf = document.leaves[0] ?? {};
    document.leaves = Array.from({ length: 25 }, (_, index) => ({ ...leaf, id: `leaf-${index}`, lifetimeDays: -1 }));
    const message = refusal(file('bad.json', JSON.stringify(document)), 'infra/certrotate.config.json');
    expect(message).toMatch(/^infra\/certrotate\.config\.json: the configuration is invalid \(\d+ problems\):\n {2}- config\.leaves\[0\]\.lifetimeDays: /);
    for (let index = 0; index < 25; index++) expect(message).toContain(`config.leaves[${index}].lifetimeDays`);
    expect(message).not.toMatch(/and \d+ more problem/);
  });

  it('says when the file is missing', () => {
    expect(refusal(join(dir, 'nothing.json'), 'nothing.json')).toBe('nothing.json: the configuration file cannot be read (no such file)');
  });

  it('counts lines and columns from 1', () => {
    expect(lineAndColumn('ab\ncd', 0)).toEqual({ line: 1, column: 1 });
    expect(lineAndColumn('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});

describe('cdk synth with a bad configuration', () => {
  const failure = async (command: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const failed = await run(command, args, { cwd: PROJECT_ROOT, env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true', ...env }, timeout: 120_000 }).then(
      () => undefined,
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
    if (failed === undefined) throw new Error('synth succeeded');
    return failed;
  };

  it('the app, run as the CDK CLI runs it, prints one message naming the file and paths, no stack trace', async () => {
    const path = file('two-problems.json', sample.replace('"algorithm": "p256"', '"algorithm": "ed25519"').replace('"renewBeforeHours": 24', '"renewBeforeHours": "24"'));
    const failed = await failure(join(PROJECT_ROOT, 'node_modules/.bin/tsx'), ['infra/app.ts'], { CDK_CONTEXT_JSON: JSON.stringify({ configFile: path }) });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(new RegExp(`^certrotate: ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: the configuration is invalid \\(2 problems\\):\\n`));
    expect(failed.stderr).toMatch(/config\.authorities\[0\]\.algorithm: /);
    expect(failed.stderr).toMatch(/config\.renewal\.renewBeforeHours: /);
    expect(failed.stderr).not.toMatch(/\n\s+at |ValidationError|node:internal/);
  }, 120_000);

  it('npx cdk synth shows the file, line and column of a JSON syntax error and fails', async () => {
    const path = file('syntax.json', '{\n  "authorities": []\n  "leaves": []\n}\n');
    const failed = await failure(join(PROJECT_ROOT, 'node_modules/.bin/cdk'), ['synth', '-q', '-c', `configFile=${path}`]);
    expect(failed.code).not.toBe(0);
    const output = `${failed.stdout}${failed.stderr}`;
    expect(output).toContain(`certrotate: ${path}:3:3: not valid JSON: Expected ',' or '}' after property value`);
    expect(output).not.toMatch(/\n\s+at /);
  }, 120_000);
});
