/**
 * What every fuzz target checks its outputs against: errors are certrotate's own classes, and no
 * answer, log line or error message carries a private key (a PEM private key block, or any run of
 * the base64 body of a key issued during the run).
 */
import { CertrotateError } from '../../lib/errors.js';

/** A property broke: `kind` groups failures, `detail` says what happened. */
export class FuzzFailure extends Error {
  override name = 'FuzzFailure';
  constructor(
    readonly kind: string,
    readonly detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}

const PEM_PRIVATE_KEY = /-{3,}\s*BEGIN[A-Z ]*PRIVATE KEY\s*-{3,}/i;
/** A private key block (certificates are public and stay visible). */
const PEM_KEY_BLOCK = /-{3,}\s*BEGIN[^\n-]*PRIVATE KEY\s*-{3,}[\s\S]*?(-{3,}\s*END[^\n-]*-{3,}|$)/gi;
const BASE64_RUN = /[A-Za-z0-9+/]{24,}/g;
/** Windows of the base64 body this long are what a leak is matched on. */
const WINDOW = 24;

function bodyOf(pem: string): string {
  return pem
    .split('\n')
    .filter((line) => !line.startsWith('-----'))
    .join('')
    .replace(/\s+/g, '');
}

/**
 * Every 24-character window of the body of every private key issued so far, kept only when it is
 * unique to one key: the ASN.1 framing every PKCS#8 key of a curve shares is not a secret.
 */
export class KeyIndex {
  readonly #owner = new Map<string, number>();
  readonly #seen = new Set<string>();
  #keys = 0;

  add(pem: string): void {
    if (this.#seen.has(pem)) return;
    this.#seen.add(pem);
    const key = ++this.#keys;
    const body = bodyOf(pem);
    for (let i = 0; i + WINDOW <= body.length; i++) {
      const window = body.slice(i, i + WINDOW);
      const owner = this.#owner.get(window);
      if (owner === undefined) this.#owner.set(window, key);
      else if (owner !== key) this.#owner.set(window, 0);
    }
  }

  /**
   * A key that is never used, added only so the framing it shares with keys of its format (the
   * ASN.1 header of a SEC1, PKCS#1 or PKCS#8 body) is known as framing, not taken for a secret.
   */
  addFraming(pem: string): void {
    const body = bodyOf(pem);
    for (let i = 0; i + WINDOW <= body.length; i++) {
      const window = body.slice(i, i + WINDOW);
      if (this.#owner.has(window)) this.#owner.set(window, 0);
    }
  }

  addAll(pems: Iterable<string>): void {
    for (const pem of pems) this.add(pem);
  }

  get size(): number {
    return this.#keys;
  }

  /** The first secret window found in `text`, or undefined. */
  leakIn(text: string): string | undefined {
    for (const match of text.matchAll(BASE64_RUN)) {
      const run = match[0];
      for (let i = 0; i + WINDOW <= run.length; i++) {
        const window = run.slice(i, i + WINDOW);
        const owner = this.#owner.get(window);
        if (owner !== undefined && owner !== 0) return window;
      }
    }
    return undefined;
  }

  /** `text` with private key blocks and issued key bytes replaced, for printing a counterexample. */
  redact(text: string): string {
    return text.replace(PEM_KEY_BLOCK, '<private key redacted>').replace(BASE64_RUN, (run) => (this.leakIn(run) === undefined ? run : '<key bytes redacted>'));
  }
}

/** Throws a FuzzFailure when `text` (an answer, a log, an error message) carries key material. */
export function assertNoKeyMaterial(keys: KeyIndex, text: string, where: string): void {
  if (PEM_PRIVATE_KEY.test(text)) throw new FuzzFailure('key material', `${where} holds a PEM private key header`);
  const leak = keys.leakIn(text);
  if (leak !== undefined) throw new FuzzFailure('key material', `${where} holds bytes of an issued private key (${leak.slice(0, 4)}...)`);
}

/** Throws a FuzzFailure unless `error` is one of certrotate's typed errors. */
export function assertTyped(error: unknown, where: string): asserts error is CertrotateError {
  if (error instanceof CertrotateError) return;
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  throw new FuzzFailure('untyped error', `${where} threw ${name}: ${message.slice(0, 300)}${error instanceof Error && error.stack !== undefined ? `\n${stackTop(error.stack)}` : ''}`);
}

function stackTop(stack: string): string {
  return stack
    .split('\n')
    .filter((line) => line.trim().startsWith('at '))
    .slice(0, 4)
    .join('\n');
}

/**
 * A value as a counterexample may print it: strings cut, wide objects and deep nesting elided, key
 * material redacted. Never throws, whatever the value (getters, proxies, cycles).
 */
export function describeInput(keys: KeyIndex, value: unknown): string {
  const seen = new Set<unknown>();
  const shrink = (item: unknown, depth: number): unknown => {
    if (typeof item === 'string') return item.length > 160 ? `${item.slice(0, 120)}...(${item.length} chars)` : item;
    if (typeof item === 'bigint') return `${item}n`;
    if (typeof item === 'symbol' || typeof item === 'function') return `<${typeof item}>`;
    if (item === undefined) return '<undefined>';
    if (typeof item === 'number' && !Number.isFinite(item)) return String(item);
    if (item instanceof Uint8Array) return `<${item.length} bytes: ${Buffer.from(item.subarray(0, 32)).toString('hex')}${item.length > 32 ? '...' : ''}>`;
    if (typeof item !== 'object' || item === null) return item;
    if (seen.has(item)) return '<cycle>';
    if (depth > 6) return '<deep>';
    seen.add(item);
    if (Array.isArray(item)) {
      const shown = item.slice(0, 20).map((element) => shrink(element, depth + 1));
      return item.length > 20 ? [...shown, `...(${item.length} items)`] : shown;
    }
    const out: Record<string, unknown> = {};
    const names = Object.getOwnPropertyNames(item);
    for (const name of names.slice(0, 20)) {
      let field: unknown;
      try {
        field = (item as Record<string, unknown>)[name];
      } catch {
        field = '<getter threw>';
      }
      Object.defineProperty(out, shrink(name, 7) as string, { value: shrink(field, depth + 1), enumerable: true });
    }
    if (names.length > 20) out['...'] = `(${names.length} keys)`;
    const proto: unknown = Object.getPrototypeOf(item);
    if (proto !== Object.prototype && proto !== null) out['<prototype>'] = Object.prototype.toString.call(item);
    return out;
  };
  let text: string;
  try {
    text = JSON.stringify(shrink(value, 0));
  } catch (error) {
    text = `<unprintable: ${error instanceof Error ? error.message : String(error)}>`;
  }
  return keys.redact(text);
}
