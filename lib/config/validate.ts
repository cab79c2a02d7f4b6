/**
 * Small strict validators for input from outside (configuration files, Lambda events). Every
 * problem is collected with its path, unknown keys are refused (a typo is an error, not a silent
 * default), and the caller throws one ValidationError listing them all.
 */
import { ValidationError } from '../errors.js';

/** How many problems an error names before it only counts the rest. */
const MAX_SHOWN = 20;

/**
 * Why free text looks like key material, or undefined. Text people type has spaces between short
 * words; a PEM header in any spelling (`----- BEGIN PRIVATE KEY -----`, lower case) or a long
 * unbroken run of base64 (a key body pasted without its header) does not, and must never reach an
 * answer, a log line or the audit history.
 */
export function keyMaterialProblem(text: string): string | undefined {
  // Bounded quantifiers only: this runs on every refused value, and a long run of spaces or dashes
  // must cost linear time, not quadratic (a 25,000-space value took seconds with `\s+[A-Z ]*`).
  if (/--[ \t]{0,8}begin\b/i.test(text) || /\bBEGIN [A-Z ]{0,30}?(PRIVATE KEY|CERTIFICATE)\b/.test(text)) return 'holds a PEM block';
  for (const run of text.match(/[A-Za-z0-9+/=_-]{40,}/g) ?? []) {
    if (/[0-9]/.test(run) && /[A-Z]/.test(run) && /[a-z]/.test(run)) return 'holds what looks like base64 key material';
  }
  return undefined;
}

export class Problems {
  readonly list: string[] = [];

  add(path: string, message: string): undefined {
    this.list.push(`${path}: ${message}`);
    return undefined;
  }

  /**
   * Throws one ValidationError naming the problems, if there are any: the first MAX_SHOWN and a
   * count of the rest, so an event with 100,000 bad keys makes a short answer and log line.
   */
  throwIfAny(what: string): void {
    if (this.list.length === 0) return;
    const shown = this.list.slice(0, MAX_SHOWN);
    const rest = this.list.length - shown.length;
    const more = rest > 0 ? `\n  - and ${rest} more problem${rest === 1 ? '' : 's'}` : '';
    const error = new ValidationError(`${what} is invalid:\n  - ${shown.join('\n  - ')}${more}`);
    error.problems = [...this.list];
    throw error;
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
    if (!allowed.has(key)) problems.add(`${path}.${keyMaterialProblem(key) !== undefined || key.length > 40 ? preview(key) : key}`, `unknown key (allowed: ${[...allowed].join(', ')})`);
    else fields[key] = field;
  }
  for (const key of keys.required) {
    if (!(key in fields)) problems.add(`${path}.${key}`, 'required');
  }
  return fields;
}

/** A pattern with what it means, or a function saying why a value is refused (undefined: fine). */
export type StringRule = { pattern: RegExp; hint: string } | ((value: string) => string | undefined);

/**
 * A rule for an id that errors, the history and answers repeat (a leaf id, a request id): its
 * pattern admits 40+ letters and digits, so a pasted key line would pass it; key material is
 * refused (and never echoed: `string` shows a refused value through `preview`).
 */
export function idRule(pattern: RegExp, hint: string): (value: string) => string | undefined {
  return (value) => (!pattern.test(value) ? hint : keyMaterialProblem(value) === undefined ? undefined : 'is refused: an id must hold no key material');
}

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
export function preview(value: string): string {
  if (keyMaterialProblem(value) !== undefined) return 'a value that looks like key material (not shown)';
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
