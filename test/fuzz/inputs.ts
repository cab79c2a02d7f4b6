/**
 * Generators shared by the fuzz targets: hostile values (wrong types, huge strings, PEM pasted
 * where a name goes, names lib/pki refuses, prototype-pollution keys) and a mutator that takes a
 * valid document and breaks one thing in it.
 */
import fc from 'fast-check';

/** Key names that pollute a prototype if a parser copies them naively. */
export const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'];

/** Names the configuration and issuance must agree on (issue 13, defect 2), good and bad. */
export const TRICKY_NAMES = [
  'api.example.com', '*.example.com', 'a', 'xn--bcher-kva.example', 'a-b.c-d.example',
  'a b.example', 'a..b.example', '.example', 'example.com.', '-a.example', 'a-.example', '_srv.example', '*.*.example.com',
  'a.*.example', `${'a'.repeat(63)}.example`, `${'a'.repeat(64)}.example`, `${'a.'.repeat(126)}a`, `${'ab.'.repeat(84)}ab`,
  'bücher.example', 'EXAMPLE.COM', 'exa\u0000mple.com', 'exa\nmple.com', '\u200bexample.com', '*', '*.', '*.com',
  '1.2.3.4', '999.1.1.1', '1.2.3', '01.2.3.4', '1.2.3.4/32', '10.0.0.0/8', '::1', '2001:db8::1', 'fe80::1%eth0', '::ffff:1.2.3.4',
  '[::1]', '0.0.0.0', '255.255.255.255', '1.2.3.4 ', 'localhost',
  'spiffe://cluster.local/ns/default/sa/api', 'https://example.com/path?q=1#f', 'urn:uuid:1234', 'not a uri', 'http://', 'mailto:a@b',
  'spiffe://a b', 'x:', ':', 'http://[::1', 'file:///etc/passwd', 'javascript:alert(1)',
  'CN=api', 'CN=api,O=example', 'CN=api, O=example', 'cn=api', 'CN=', 'CN=api,FOO=bar', 'CN=a+O=b', 'CN=a\\,b', 'CN=a\\',
  'CN="quoted"', '2.5.4.3=api', 'OID.2.5.4.3=api', 'CN=api,2.5.4.999=x', 'E=a@b.example', 'CN=\u0000', '=api', 'CN', ',', 'CN=a,,O=b',
  'CN=#0403616263', `CN=${'x'.repeat(5000)}`, 'DC=example,DC=com', 'C=USA', 'C=U',
];

/** PEM-ish text pasted into fields: headers in every spelling, bodies without headers. */
export function pemPastes(keyPems: readonly string[], certificatePem: string): string[] {
  const [key = ''] = keyPems;
  const body = key.split('\n').filter((line) => line.length > 0 && !line.startsWith('-----'));
  return [
    ...keyPems,
    certificatePem,
    key.replaceAll('-----BEGIN PRIVATE KEY-----', '----- BEGIN PRIVATE KEY -----').replaceAll('-----END PRIVATE KEY-----', '----- END PRIVATE KEY -----'),
    key.toLowerCase(),
    key.replaceAll('\n', '\r\n'),
    body.join(''),
    body.join('\n'),
    body[1] ?? '',
    (body[1] ?? '').replace(/[+/]/g, 'A'),
    `reason: ${body.join(' ')}`,
    `-----BEGIN PRIVATE KEY-----${body.join('')}`,
    '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----',
    'BEGIN PRIVATE KEY',
  ];
}

/** Values of the wrong type or shape for any field. */
export function wrongValues(strings: fc.Arbitrary<string>): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom<unknown>(null, undefined, true, false, 0, -0, -1, 1, 0.5, 1e-300, 1e308, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_SAFE_INTEGER + 2, 10n, '', ' ', '\t\n', [], {}, [[]], [null], 'true', '1', '0x10', '1e3'),
    strings,
    fc.integer(),
    fc.double(),
    fc.array(strings, { maxLength: 4 }),
    fc.jsonValue({ maxDepth: 2 }),
    fc.anything({ maxDepth: 2, withBoxedValues: true, withNullPrototype: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true }),
    fc.constantFrom<unknown>('x'.repeat(LONG), 'é'.repeat(LONG), Array.from({ length: 10_000 }, (_, i) => i)),
    pollutedObject(),
  );
}

/** An object with own `__proto__`/`constructor` keys, as JSON.parse makes them. */
export function pollutedObject(): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(fc.constantFrom(...PROTOTYPE_KEYS), fc.jsonValue({ maxDepth: 1 })).map(([key, value]) => withOwnKey({}, key, value));
}

export function withOwnKey<T extends object>(target: T, key: string, value: unknown): T {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

/** Strings worth putting in any string field. */
export function hostileStrings(extra: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...TRICKY_NAMES, ...extra, ...PROTOTYPE_KEYS) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9-]{0,70}$/) },
    // Long enough to show a parser whose time grows with the square of its input, short enough to
    // keep such an input to seconds: 'x' 100,000 times as a subject takes a minute to refuse.
    { weight: 1, arbitrary: fc.constantFrom('x'.repeat(1_000), 'x'.repeat(LONG), `BEGIN${' '.repeat(LONG)}`, `${'-'.repeat(LONG)}BEGIN`, `a${' a'.repeat(LONG / 2)}`) },
  );
}

/** The length of the long strings among the hostile ones. */
export const LONG = 25_000;

type Path = (string | number)[];

function containers(value: unknown, path: Path = [], out: Path[] = []): Path[] {
  if (typeof value !== 'object' || value === null) return out;
  out.push(path);
  for (const [key, child] of Object.entries(value)) containers(child, [...path, Array.isArray(value) ? Number(key) : key], out);
  return out;
}

function at(root: unknown, path: Path): unknown {
  let node = root;
  for (const step of path) node = typeof node === 'object' && node !== null ? (node as Record<string | number, unknown>)[step] : undefined;
  return node;
}

export type Mutation = 'set' | 'delete' | 'add' | 'wrap' | 'duplicate';

/**
 * A valid document with one thing broken: a field (at any depth) set to a hostile value, deleted,
 * wrapped in an array, an array item duplicated, or an unknown key added (prototype keys
 * included). One mutation in four is applied twice.
 */
export function mutated(document: unknown, values: fc.Arbitrary<unknown>, keyNames: fc.Arbitrary<string>): fc.Arbitrary<unknown> {
  const paths = containers(document);
  const one = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom<Mutation>('set', 'set', 'set', 'delete', 'add', 'wrap', 'duplicate'), values, keyNames);
  return fc.array(one, { minLength: 1, maxLength: 2 }).map((mutations) => {
    const copy: unknown = structuredClone(document);
    for (const [pick, field, mutation, value, keyName] of mutations) {
      const container = at(copy, paths[pick % paths.length] ?? []) as Record<string, unknown> | unknown[] | undefined;
      // A value an earlier mutation set may be a typed array or a boxed value: its items cannot be deleted.
      if (typeof container !== 'object' || container === null || ArrayBuffer.isView(container)) continue;
      const keys = Object.keys(container);
      const key = keys[field % Math.max(1, keys.length)];
      const target = container as Record<string, unknown>;
      switch (mutation) {
        case 'set':
          if (key !== undefined) target[key] = value;
          break;
        case 'delete':
          if (key !== undefined) {
            if (Array.isArray(container)) container.splice(Number(key), 1);
            else delete target[key];
          }
          break;
        case 'add':
          if (Array.isArray(container)) container.push(value);
          else withOwnKey(target, keyName, value);
          break;
        case 'wrap':
          if (key !== undefined) target[key] = [target[key]];
          break;
        case 'duplicate':
          if (Array.isArray(container) && container.length > 0) container.push(container[field % container.length]);
          else if (key !== undefined) withOwnKey(target, `${key} `, target[key]);
          break;
      }
    }
    return copy;
  });
}
