/**
 * `certrotate <command>`: the operator CLI. A composition root: it parses the command line,
 * resolves where the command function is (or runs the command here), and maps every outcome to an
 * exit code: 0 ok, 1 failed or refused, 2 bad usage, 3 attention needed. Errors are one line on
 * stderr (and, with --json, a JSON document on stdout), never a stack trace.
 */
import { LOCAL_COMMANDS } from './commands/local.js';
import { MUTATING_COMMANDS } from './commands/mutate.js';
import { READ_COMMANDS } from './commands/read.js';
import { CliError, EXIT, UsageError } from './errors.js';
import { table } from './format.js';
import { helpText, parseCommandArgs, stringOption, type CommandSpec, type Io } from './spec.js';
import type { CommandTarget } from './transport.js';

export const COMMANDS: CommandSpec[] = [...READ_COMMANDS, ...MUTATING_COMMANDS, ...LOCAL_COMMANDS];

function overview(): string[] {
  return [
    'usage: certrotate <command> [arguments] [options]',
    '',
    'certrotate keeps X.509 CAs and leaf certificates rotated with zero downtime. Commands:',
    '',
    ...table(['COMMAND', 'WHAT IT DOES'], COMMANDS.map((spec) => [spec.name, spec.summary.split('. ')[0]?.replace(/\.$/, '') ?? ''])).slice(2).map((line) => `  ${line}`),
    '',
    'Where it talks: --stack NAME, --function NAME, or --endpoint URL (a sandbox; or set CERTROTATE_ENDPOINT).',
    'Exit codes: 0 ok, 1 failed or refused, 2 bad usage, 3 attention needed.',
    'Every command takes --help (its options, defaults and an example) and --json.',
  ];
}

function failure(io: Io, json: boolean, message: string, exitCode: number, hint?: string): number {
  io.err(`certrotate: ${message}${hint === undefined ? '' : ` (${hint})`}`);
  if (json) io.out(JSON.stringify({ ok: false, error: { message }, exitCode }, null, 2));
  return exitCode;
}

export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const lines = overview();
    if (name === undefined) for (const line of lines) io.err(line);
    else io.out(lines.join('\n'));
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const spec = COMMANDS.find((candidate) => candidate.name === name);
  const json = rest.includes('--json');
  if (spec === undefined) return failure(io, json, `unknown command "${name}"`, EXIT.usage, 'see certrotate --help');
  let target: CommandTarget | undefined;
  try {
    const { positionals, values } = parseCommandArgs(spec, rest);
    if (values.help === true) {
      io.out(helpText(spec).join('\n'));
      return EXIT.ok;
    }
    const flags = { stack: stringOption(values, 'stack'), function: stringOption(values, 'function'), endpoint: stringOption(values, 'endpoint'), region: stringOption(values, 'region') };
    return await spec.run({
      positionals,
      values,
      json: values.json === true,
      io,
      // The Lambda client takes a second to load: only commands that talk load it.
      target: async () => (target ??= (await import('./transport.js')).resolveTarget(flags, io.env)),
    });
  } catch (error) {
    if (error instanceof UsageError) return failure(io, json, error.message, EXIT.usage, `see certrotate ${spec.name} --help`);
    if (error instanceof CliError) return failure(io, json, error.message, error.exitCode);
    return failure(io, json, `unexpected error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, EXIT.failed);
  } finally {
    target?.close();
  }
}

/** The process's own Io: stdout, stderr, the environment, Ctrl-C and SIGTERM. */
export function processIo(): Io {
  const interrupted = new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    interrupted,
  };
}
