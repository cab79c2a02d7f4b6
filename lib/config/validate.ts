/**
 * Small strict validators for input from outside (configuration files, Lambda events). Every
 * problem is collected with its path, unknown keys are refused (a typo is an error, not a silent
 * default), and the caller throws one ValidationError listing them all.
 */
import { ValidationError } from '../errors.js';

export class Problems {
  readonly list: string[] = [];

  add(path: string, message: string): undefined {
    this.list.push(`${path}: ${message}`);
    return undefined;
  }

  /** Throws one ValidationError naming every problem, if there are any. */
  throwIfAny(what: string): void {
    if (this.list.length > 0) {
      throw new ValidationError(`${what} is invalid:\n  - ${this.list.join('\n  - ')}`);
    }
  }
}

export type Fields = Record<string, unknown>;

/** An object with only the allowed keys, every required one present. */
export function object(
  value: unknown,
  path: string,
  problems: Problems,
  keys: { required: readonly string[]; optional?: readonly string[] },
): Fields | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return problems.add(path, `expected an object, got ${describe(value)}`);
  }
  const fields: Fields = {};
  const allowed = new Set([...keys.required, ...(keys.optional ?? [])]);
  for (const [key, field] of Object.entries(value)) {
    if (!allowed.has(key)) problems.add(`${path}.${key.includes('-----BEGIN') || key.length > 40 ? preview(key) : key}`, `unknown key (allowed: ${[...allowed].join(', ')})`);
    else fields[key] = field;
  }
  for (const key of keys.required) {
    if (!(key in fields)) problems.add(`${path}.${key}`, 'required');
  }
  return fields;
}

/** A pattern with what it means, or a function saying why a value is refused (undefined: fine). */
export type StringRule = { pattern: RegExp; hint: string } | ((value: string) => string | undefined);

export function string(value: unknown, path: string, problems: Problems, rule?: StringRule): string | undefined {
  if (typeof value !== 'string') return problems.add(path, `expected a string, got ${describe(value)}`);
  const problem = rule === undefined ? undefined : typeof rule === 'function' ? rule(value) : rule.pattern.test(value) ? undefined : rule.hint;
  if (problem !== undefined) return problems.add(path, `${preview(value)} ${problem}`);
  return value;
}

export function number(
  value: unknown,
  path: string,
  problems: Problems,
  range: { min?: number; max?: number; integer?: boolean } = {},
): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return problems.add(path, `expected a number, got ${describe(value)}`);
  }
  if (range.integer === true && !Number.isInteger(value)) return problems.add(path, `expected a whole number, got ${value}`);
  if (range.min !== undefined && value < range.min) return problems.add(path, `must be at least ${range.min}, got ${value}`);
  if (range.max !== undefined && value > range.max) return problems.add(path, `must be at most ${range.max}, got ${value}`);
  return value;
}

export function boolean(value: unknown, path: string, problems: Problems): boolean | undefined {
  if (typeof value !== 'boolean') return problems.add(path, `expected true or false, got ${describe(value)}`);
  return value;
}

export function oneOf<T extends string>(value: unknown, path: string, problems: Problems, choices: readonly T[]): T | undefined {
  const found = choices.find((choice) => choice === value);
  if (found === undefined) return problems.add(path, `expected one of ${choices.join(', ')}, got ${describe(value)}`);
  return found;
}

export function array(value: unknown, path: string, problems: Problems): unknown[] | undefined {
  if (!Array.isArray(value)) return problems.add(path, `expected an array, got ${describe(value)}`);
  return value as unknown[];
}

export function stringArray(value: unknown, path: string, problems: Problems, rule?: StringRule): string[] {
  const items = array(value, path, problems) ?? [];
  return items.flatMap((item, index) => string(item, `${path}[${index}]`, problems, rule) ?? []);
}

/**
 * A rejected string as an error message may show it: quoted, cut to 40 characters, and never a PEM
 * block (a private key pasted into the wrong field must not reach a response or a log).
 */
function preview(value: string): string {
  if (value.includes('-----BEGIN')) return 'a PEM block (not shown)';
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${preview(value)}`;
  if (typeof value === 'object' || typeof value === 'function') return `an ${typeof value}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${value}`;
  return typeof value;
}
