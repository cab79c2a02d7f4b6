/**
 * `npm start`'s command line: every flag with its default, and a message of our own for every bad
 * value (a negative number, a forced rotation outside the run, too few leaves), so that a user
 * never meets node:util's wording or a run that silently ignores what they asked for.
 */
import { parseArgs } from 'node:util';
import { KEY_ALGORITHMS, isKeyAlgorithm, type KeyAlgorithm } from '../pki/index.js';

/** The demo fleet's fixed roles need this many leaves (lib/simulation/inventory.ts). */
export const MIN_LEAVES = 12;

export interface StartOptions {
  days: number;
  leaves: number;
  algorithm: KeyAlgorithm;
  seed: number;
  forceRotationAt: number;
  quiet: boolean;
  json: boolean;
  outDir?: string;
  everySlot: boolean;
  broken: boolean;
  /** The authority started from a CA and leaves made with openssl (adopt.ts); undefined for none. */
  adoptCa?: string;
}

export type ParsedStart = { kind: 'help'; text: string } | { kind: 'run'; options: StartOptions } | { kind: 'error'; message: string };

export const USAGE = `usage: npm start -- [--days N] [--leaves N] [--algorithm ${KEY_ALGORITHMS.join('|')}] [--seed N]
                 [--force-rotation-at DAY] [--quiet] [--json] [--out DIR] [--every-slot]
                 [--broken-drop-old-ca-early] [--adopt-ca AUTHORITY|none]`;

export const HELP = `${USAGE}

Runs the scheduled path of certrotate on a simulated clock against the embedded default, with
real mutual-TLS handshakes between the workloads, and prints a summary.

  --days N                     simulated days to run (default 400; at least 1)
  --leaves N                   leaves across the three authorities (default 30; at least ${MIN_LEAVES})
  --algorithm ALG              key algorithm of CAs and leaves: ${KEY_ALGORITHMS.join(', ')} (default p256;
                               rsa3072 and rsa4096 are slow: minutes, not seconds)
  --seed N                     seed of the fleet's shape and jitter; same seed, same summary (default 1)
  --force-rotation-at DAY      day (0 to days-1) on which an operator forces a rotation of
                               \`cluster\` (default days/2, rounded down; on day 0, an hour
                               after the start, once the authorities are bootstrapped)
  --quiet                      no progress lines on stderr (default off)
  --json                       only the summary as JSON on stdout; progress stays on stderr (default off)
  --out DIR                    write each phase transition's certificates and keys under DIR (default: none)
  --every-slot                 tick at every slot of the production cadence instead of jumping (default off)
  --broken-drop-old-ca-early   run a deliberately broken deployment; it must report failures and exit 1 (default off)
  --adopt-ca AUTHORITY|none    the authority that starts from a CA and leaves made with openssl, adopted
                               with import-ca and then rotated away from (default front-proxy; none: no adoption)
  --help                       this text

Example: npm start -- --days 100 --seed 3 --json > summary.json`;

const STRING_FLAGS = ['days', 'leaves', 'algorithm', 'seed', 'force-rotation-at', 'out', 'adopt-ca'] as const;
const ADOPTABLE = ['cluster', 'etcd', 'front-proxy'];

/**
 * `--days -5` would reach node:util as a flag `-5`; joined as `--days=-5` it reaches our own
 * checks, which say what is wrong with it.
 */
function joinNegativeValues(argv: readonly string[]): string[] {
  const joined: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] ?? '';
    const next = argv[index + 1];
    if ((STRING_FLAGS as readonly string[]).includes(arg.slice(2)) && arg.startsWith('--') && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${arg}=${next}`);
      index++;
    } else joined.push(arg);
  }
  return joined;
}

class UsageError extends Error {
  override name = 'UsageError';
}

function integer(value: string | undefined, name: string, fallback: number, min: number, why = ''): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isInteger(parsed)) throw new UsageError(`--${name} must be a whole number, got "${value}"`);
  if (parsed < min) throw new UsageError(`--${name} must be at least ${min}${why}, got ${value}`);
  return parsed;
}

function values(argv: readonly string[]) {
  try {
    return parseArgs({
      args: joinNegativeValues(argv),
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
        quiet: { type: 'boolean' },
        json: { type: 'boolean' },
        'every-slot': { type: 'boolean' },
        'broken-drop-old-ca-early': { type: 'boolean' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function text(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function options(args: Record<string, string | boolean | undefined>): StartOptions {
  const algorithm = text(args.algorithm) ?? 'p256';
  if (!isKeyAlgorithm(algorithm)) throw new UsageError(`--algorithm must be one of ${KEY_ALGORITHMS.join(', ')}, got "${algorithm}"`);
  const days = integer(text(args.days), 'days', 400, 1);
  const leaves = integer(
    text(args.leaves),
    'leaves',
    30,
    MIN_LEAVES,
    ' (the demo control plane has fixed roles: an API server and its kubelet client, three controllers, three etcd members, two etcd clients, front-proxy leaves and at least one kubelet)',
  );
  const forceRotationAt = integer(text(args['force-rotation-at']), 'force-rotation-at', Math.floor(days / 2), 0, ' (day 0 is the first day of the run)');
  if (forceRotationAt >= days) {
    throw new UsageError(`--force-rotation-at ${forceRotationAt} is past the last day of a ${days}-day run, so the forced rotation would never happen: pick a day from 0 to ${days - 1}, or run longer with --days`);
  }
  const out = text(args.out);
  const adoptCa = text(args['adopt-ca']) ?? 'front-proxy';
  if (![...ADOPTABLE, 'none'].includes(adoptCa)) throw new UsageError(`--adopt-ca must be ${ADOPTABLE.join(', ')} or none, got "${adoptCa}"`);
  return {
    days,
    leaves,
    algorithm,
    seed: integer(text(args.seed), 'seed', 1, 0),
    forceRotationAt,
    quiet: args.quiet === true,
    json: args.json === true,
    ...(out === undefined ? {} : { outDir: out }),
    everySlot: args['every-slot'] === true,
    broken: args['broken-drop-old-ca-early'] === true,
    ...(adoptCa === 'none' ? {} : { adoptCa }),
  };
}

/** What `npm start -- ARGV` asks for, or the one line that says what is wrong with it. */
export function parseStartArgs(argv: readonly string[]): ParsedStart {
  try {
    const args = values(argv);
    if (args.help === true) return { kind: 'help', text: HELP };
    return { kind: 'run', options: options(args) };
  } catch (error) {
    if (error instanceof UsageError) return { kind: 'error', message: error.message };
    throw error;
  }
}
