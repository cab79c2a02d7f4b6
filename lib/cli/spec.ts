/**
 * How a CLI command describes itself: its arguments, options with their defaults, an example; one
 * parser (node:util parseArgs, strict: an unknown or malformed option is a usage error) and one
 * help layout for every command.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';
import type { CommandTarget } from './transport.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** Shown in --help; also the value when the option is absent (strings only). */
  default?: string;
  /** Shown as `--name VALUE`. */
  value?: string;
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** Resolves when the user interrupts (Ctrl-C): `--watch` and `sandbox` stop then. */
  interrupted: Promise<void>;
}

export interface RunContext {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  json: boolean;
  io: Io;
  /** The command function (remote commands only); created (and the Lambda client loaded) on first use. */
  target(): Promise<CommandTarget>;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** After the command name, e.g. `<authority> [--emergency]`. */
  usage: string;
  positionals: { min: number; max: number };
  options: Record<string, OptionSpec>;
  example: string;
  /** Talks to the command function: takes --stack/--function/--endpoint/--region. */
  remote: boolean;
  /** More lines for --help (exit codes, notes). */
  notes?: string[];
  run(context: RunContext): Promise<number>;
}

export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'machine-readable output: every fact as a field' },
  help: { type: 'boolean', description: 'show this help' },
};

export const TARGET_OPTIONS: Record<string, OptionSpec> = {
  stack: { type: 'string', value: 'NAME', description: 'the CloudFormation stack: its CommandFunctionName output names the function' },
  function: { type: 'string', value: 'NAME', description: 'the command function by name or ARN' },
  endpoint: { type: 'string', value: 'URL', description: 'a sandbox (default: $CERTROTATE_ENDPOINT)' },
  region: { type: 'string', value: 'REGION', description: 'AWS region (default: the SDK chain: AWS_REGION, profile)' },
};

export const MUTATING_OPTIONS: Record<string, OptionSpec> = {
  reason: { type: 'string', value: 'TEXT', description: 'why: recorded in the audit history' },
  'request-id': { type: 'string', value: 'ID', description: 'reuse one to retry safely (default: a new one, printed)' },
};

export function optionsOf(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, ...(spec.remote ? TARGET_OPTIONS : {}), ...COMMON_OPTIONS };
}

export function helpText(spec: CommandSpec): string[] {
  const options = optionsOf(spec);
  const left = (name: string, option: OptionSpec) => `  --${name}${option.value === undefined ? '' : ` ${option.value}`}`;
  const width = Math.max(...Object.entries(options).map(([name, option]) => left(name, option).length));
  return [
    `usage: certrotate ${spec.name}${spec.usage === '' ? '' : ` ${spec.usage}`}`,
    '',
    spec.summary,
    '',
    'options:',
    ...Object.entries(options).map(([name, option]) => `${left(name, option).padEnd(width)}  ${option.description}${option.default === undefined ? '' : ` (default: ${option.default})`}`),
    ...(spec.notes === undefined ? [] : ['', ...spec.notes]),
    '',
    'example:',
    `  ${spec.example}`,
  ];
}

/** Parses a command's arguments; throws UsageError naming the problem. */
export function parseCommandArgs(spec: CommandSpec, args: string[]): { positionals: string[]; values: Record<string, string | boolean | undefined> } {
  const options = optionsOf(spec);
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: Object.fromEntries(Object.entries(options).map(([name, option]) => [name, { type: option.type }])) });
  } catch (error) {
    // node's messages run on with advice for its own API; the first sentence names the problem.
    throw new UsageError(error instanceof Error ? (error.message.split(/\n|\. To specify/)[0] ?? error.message) : String(error));
  }
  const values: Record<string, string | boolean | undefined> = { ...parsed.values };
  if (values.help === true) return { positionals: parsed.positionals, values };
  for (const [name, option] of Object.entries(options)) {
    if (values[name] === undefined && option.default !== undefined && option.type === 'string') values[name] = option.default;
  }
  const count = parsed.positionals.length;
  if (count < spec.positionals.min) throw new UsageError(`${spec.name}: missing argument (usage: certrotate ${spec.name} ${spec.usage})`);
  if (count > spec.positionals.max) throw new UsageError(`${spec.name}: unexpected argument "${parsed.positionals[spec.positionals.max] ?? ''}"`);
  return { positionals: parsed.positionals, values };
}

/** A string option's value (undefined when absent). */
export function stringOption(values: RunContext['values'], name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

/** A positive number option, or a usage error naming it. */
export function numberOption(values: RunContext['values'], name: string, bounds: { min: number; max: number }): number {
  const raw = stringOption(values, name) ?? '';
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < bounds.min || value > bounds.max) {
    throw new UsageError(`--${name} must be a number from ${bounds.min} to ${bounds.max}, got "${raw}"`);
  }
  return value;
}
