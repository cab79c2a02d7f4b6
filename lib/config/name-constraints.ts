/**
 * `authorities[].nameConstraints` in the configuration file, and the check that every leaf of
 * the authority is inside them. The rules themselves (what a domain or range covers, which names
 * of a leaf count) live in lib/pki/name-constraints.ts, the very ones an Issuer applies.
 *
 * ```json
 * "nameConstraints": {
 *   "permitted": { "dnsDomains": ["cluster.local", "example.com"], "ipRanges": ["10.0.0.0/8", "fd00::/8"] },
 *   "excluded": { "dnsDomains": ["admin.example.com"] }
 * }
 * ```
 */
import { dnsDomainProblem, ipRangeProblem, nameConstraintViolations, nameConstraintsProblems, type NameConstraints, type NameSubtrees } from '../pki/index.js';
import { object, stringArray, type Problems, type StringRule } from './validate.js';

const SUBTREE_KEYS = ['dnsDomains', 'ipRanges'] as const;

function parseSubtrees(value: unknown, path: string, problems: Problems): NameSubtrees | undefined {
  const fields = object(value, path, problems, { required: [], optional: SUBTREE_KEYS });
  if (fields === undefined) return undefined;
  const subtrees: NameSubtrees = {};
  const list = (key: (typeof SUBTREE_KEYS)[number], rule: StringRule) => {
    if (fields[key] === undefined) return undefined;
    const before = problems.list.length;
    const values = stringArray(fields[key], `${path}.${key}`, problems, rule);
    if (problems.list.length === before && values.length === 0) {
      problems.add(`${path}.${key}`, 'is empty: an empty list constrains nothing (leave the key out)');
    }
    const seen = new Set<string>();
    for (const [index, entry] of values.entries()) {
      if (seen.has(entry.toLowerCase())) problems.add(`${path}.${key}[${index}]`, `${JSON.stringify(entry)} is listed twice`);
      seen.add(entry.toLowerCase());
    }
    return values;
  };
  const dnsDomains = list('dnsDomains', dnsDomainProblem);
  const ipRanges = list('ipRanges', ipRangeProblem);
  if (dnsDomains !== undefined) subtrees.dnsDomains = dnsDomains;
  if (ipRanges !== undefined) subtrees.ipRanges = ipRanges;
  return subtrees;
}

/** Parses one authority's `nameConstraints`; undefined (with problems added) when it is bad. */
export function parseNameConstraints(value: unknown, path: string, problems: Problems): NameConstraints | undefined {
  const fields = object(value, path, problems, { required: [], optional: ['permitted', 'excluded'] });
  if (fields === undefined) return undefined;
  const before = problems.list.length;
  const constraints: NameConstraints = {};
  const permitted = fields.permitted === undefined ? undefined : parseSubtrees(fields.permitted, `${path}.permitted`, problems);
  const excluded = fields.excluded === undefined ? undefined : parseSubtrees(fields.excluded, `${path}.excluded`, problems);
  if (problems.list.length > before) return undefined;
  if (permitted !== undefined) constraints.permitted = permitted;
  if (excluded !== undefined) constraints.excluded = excluded;
  for (const problem of nameConstraintsProblems(constraints)) problems.add(`${path}${problem.path}`, problem.message);
  return problems.list.length > before ? undefined : constraints;
}

/** The leaf fields name constraints judge, as the configuration holds them. */
interface ConstrainedLeaf {
  authority: string;
  id: string;
  subject: string;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  usage: 'server' | 'client' | 'both';
}

/**
 * Adds a problem for every name of every leaf outside its authority's constraints, at the path of
 * that name (`config.leaves[3].dnsNames[1]`), naming the leaf and the authority.
 */
export function checkLeavesAgainstNameConstraints(
  authorities: ReadonlyArray<{ name: string; nameConstraints?: NameConstraints }>,
  leaves: readonly ConstrainedLeaf[],
  problems: Problems,
): void {
  for (const [index, leaf] of leaves.entries()) {
    const constraints = authorities.find((authority) => authority.name === leaf.authority)?.nameConstraints;
    if (constraints === undefined) continue;
    for (const violation of nameConstraintViolations(constraints, leaf)) {
      const path = violation.field === 'subject' ? `config.leaves[${index}].subject` : `config.leaves[${index}].${violation.field}[${violation.index}]`;
      problems.add(path, `leaf "${leaf.id}": ${violation.message} of authority "${leaf.authority}" (its CAs may not sign it)`);
    }
  }
}
