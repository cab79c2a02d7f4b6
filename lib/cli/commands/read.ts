/** The read-only commands: status, plan, history, check-expiration, inspect. */
import { EXIT, UsageError } from '../errors.js';
import { date, residual, table } from '../format.js';
import { numberOption, type CommandSpec, type RunContext } from '../spec.js';

type Json = Record<string, unknown>;
const records = (value: unknown): Json[] => (Array.isArray(value) ? (value.filter((v) => typeof v === 'object' && v !== null) as Json[]) : []);
const str = (value: unknown): string => (typeof value === 'string' ? value : value === null || value === undefined ? '-' : JSON.stringify(value));
const num = (value: unknown): number | null => (typeof value === 'number' ? value : null);
const authorityArg = (context: RunContext) => (context.positionals[0] === undefined ? {} : { authority: context.positionals[0] });

/** Why an authority needs attention: its gate waited past `stuckHours`, or consumers lag. */
export function attentionOf(status: Json, stuckHours: number): { needed: boolean; stuck: boolean; lagging: boolean; reasons: string[] } {
  const consumers = (status.consumers ?? {}) as Json;
  const laggards = Array.isArray(consumers.laggards) ? consumers.laggards.map(String) : [];
  const total = num(consumers.total) ?? 0;
  const holding = num(consumers.holdingBundle) ?? total;
  const wait = num(status.gateWaitHours) ?? 0;
  const stuck = wait > 0 && wait >= stuckHours;
  const lagging = laggards.length > 0 || holding < total;
  const reasons = [
    ...(stuck ? [`the ${str(status.phase)} gate has waited ${wait}h (over ${stuckHours}h): ${str(status.next)}`] : []),
    ...(lagging ? [`consumers ${holding}/${total} hold the bundle${laggards.length === 0 ? '' : `; lagging: ${laggards.join(', ')}`}`] : []),
  ];
  return { needed: stuck || lagging, stuck, lagging, reasons };
}

/** What consumers reported (API Gateway truststore warnings), one line each: already quoted and bounded by the engine. */
function findingLines(findings: unknown): string[] {
  return records(findings).map((finding) => {
    const shown = Array.isArray(finding.shown) ? finding.shown.map(String) : [];
    const total = num(finding.total) ?? shown.length;
    const more = total > shown.length ? ` (+${total - shown.length} more)` : '';
    return `  ${str(finding.target)} ${str(finding.label)}: ${shown.join(', ')}${more}`;
  });
}

/** The plan's writes as an indented table: where each goes and what it gets. */
function writeLines(entry: Json): string[] {
  const writes = records(entry.writes);
  if (writes.length === 0) return ['  writes nothing'];
  const note = entry.source === 'inventory' ? " (from the inventory; --deep also reads certrotate's own secrets and the leaf copies)" : '';
  const rows = writes.map((write) => [str(write.kind), str(write.target), str(write.what)]);
  return [`  writes${note}:`, ...table(['KIND', 'WHERE', 'WHAT'], rows).map((line) => `    ${line}`)];
}

/** `--deep`: read every secret (O(leaves)) instead of the inventory in DynamoDB. */
function deepArg(context: RunContext): { deep?: true } {
  return context.values.deep === true ? { deep: true } : {};
}

const DEEP_OPTION = { type: 'boolean', description: 'read every leaf secret and the bundle (O(leaves)) instead of the DynamoDB inventory; sees a secret broken out of band before the daily reconcile' } as const;

async function statusOnce(context: RunContext, stuckHours: number): Promise<{ code: number; lines: string[]; document: Json }> {
  const answer = await (await context.target()).invoke({ action: 'status', ...authorityArg(context), ...deepArg(context) });
  const lines: string[] = [];
  let code: number = EXIT.ok;
  const authorities = records(answer.authorities).map((status) => {
    if (status.error !== undefined) {
      code = EXIT.failed;
      lines.push(`${str(status.authority)}: failed: ${str((status.error as Json).message)}`);
      return status;
    }
    const attention = attentionOf(status, stuckHours);
    if (attention.needed && code === EXIT.ok) code = EXIT.attention;
    lines.push(str(status.status));
    const names = (status.consumers as Json | undefined)?.names;
    if (Array.isArray(names) && names.length > 0) lines.push(`  consumers: ${names.map(String).join(', ')}`);
    lines.push(...findingLines((status.consumers as Json | undefined)?.findings));
    for (const reason of attention.reasons) lines.push(`  attention: ${reason}`);
    return { ...status, attention };
  });
  return { code, lines, document: { authorities, attention: code === EXIT.attention, exitCode: code } };
}

async function status(context: RunContext): Promise<number> {
  const stuckHours = numberOption(context.values, 'stuck-hours', { min: 0, max: 100_000 });
  const interval = numberOption(context.values, 'interval', { min: 0.1, max: 3600 });
  let last = '';
  for (;;) {
    const { code, lines, document } = await statusOnce(context, stuckHours);
    const shown = context.json ? JSON.stringify(document) : lines.join('\n');
    if (context.values.watch !== true) {
      context.io.out(context.json ? JSON.stringify(document, null, 2) : shown);
      return code;
    }
    if (shown !== last) context.io.out(context.json ? shown : `${new Date().toISOString().slice(11, 19)} ${lines.join('\n         ')}`);
    last = shown;
    const stop = await Promise.race([context.io.interrupted.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), interval * 1000))]);
    if (stop) return code;
  }
}

async function plan(context: RunContext): Promise<number> {
  const answer = await (await context.target()).invoke({ action: 'plan', ...authorityArg(context), ...deepArg(context) });
  if (context.json) return (context.io.out(JSON.stringify(answer, null, 2)), EXIT.ok);
  let code: number = EXIT.ok;
  for (const entry of records(answer.authorities)) {
    if (entry.error !== undefined) {
      code = EXIT.failed;
      context.io.out(`${str(entry.authority)}: failed: ${str((entry.error as Json).message)}`);
      continue;
    }
    context.io.out(`${str(entry.authority)}: next step ${str((entry.step as Json | undefined)?.kind)}: ${str(entry.description)}`);
    for (const t of records(entry.transitions)) context.io.out(`  would move ${str(t.from)} -> ${str(t.to)}: ${str(t.why)}`);
    for (const line of writeLines(entry)) context.io.out(line);
  }
  return code;
}

async function history(context: RunContext): Promise<number> {
  const answer = await (await context.target()).invoke({ action: 'history', authority: context.positionals[0] });
  if (context.json) return (context.io.out(JSON.stringify(answer, null, 2)), EXIT.ok);
  const entries = records(answer.entries);
  if (entries.length === 0) return (context.io.out(`${str(answer.authority)}: no history yet (the first scan bootstraps it)`), EXIT.ok);
  for (const line of table(['AT', 'FROM', 'TO', 'BY', 'WHY'], entries.map((e) => [str(e.at), str(e.from), str(e.to), str(e.by), str(e.why)]))) context.io.out(line);
  return EXIT.ok;
}

async function checkExpiration(context: RunContext): Promise<number> {
  const answer = await (await context.target()).invoke({ action: 'check-expiration', ...authorityArg(context) });
  const code = answer.attention === true ? EXIT.attention : EXIT.ok;
  if (context.json) return (context.io.out(JSON.stringify({ ...answer, exitCode: code }, null, 2)), code);
  const rows = records(answer.rows).map((row) => [
    str(row.authority), str(row.name), str(row.kind), str(row.generation), date(row.notAfter as string | null), residual(num(row.residualMs)),
    date(row.actsAt as string | null), str(row.state),
  ]);
  for (const line of table(['AUTHORITY', 'NAME', 'KIND', 'GEN', 'EXPIRES', 'RESIDUAL TIME', 'RENEWS/ROTATES AT', 'STATE'], rows, [3, 5])) context.io.out(line);
  return code;
}

async function inspect(context: RunContext): Promise<number> {
  const [authority, leaf, ...rest] = (context.positionals[0] ?? '').split('/');
  if (authority === undefined || authority === '' || leaf === undefined || leaf === '' || rest.length > 0) throw new UsageError('inspect takes <authority>/<leaf>, e.g. cluster/kube-apiserver');
  const answer = await (await context.target()).invoke({ action: 'inspect', authority, leaf });
  if (context.json) return (context.io.out(JSON.stringify(answer, null, 2)), EXIT.ok);
  const sans = (answer.subjectAltNames ?? {}) as Json;
  const fingerprints = (answer.fingerprints ?? {}) as Json;
  const list = (value: unknown) => (Array.isArray(value) && value.length > 0 ? value.map(String).join(', ') : '-');
  const fields: [string, string][] = [
    ['leaf', `${authority}/${leaf}`], ['subject', str(answer.subject)], ['issuer', `${str(answer.issuer)} (CA generation ${str(answer.issuerGeneration)})`],
    ['DNS names', list(sans.dns)], ['IP addresses', list(sans.ip)], ['URIs', list(sans.uri)], ['key usage', list(answer.extendedKeyUsage)],
    ['serial', str(answer.serialHex)], ['not before', str(answer.notBefore)], ['not after', `${str(answer.notAfter)} (${residual(num(answer.residualMs))} left)`],
    ['renews at', str(answer.renewsAt)], ['key algorithm', str(answer.keyAlgorithm)], ['SHA-256', str(fingerprints.sha256)], ['SHA-1', str(fingerprints.sha1)],
    ['chain', `${str(answer.chainLength)} more certificate(s)`], ['ca.crt bundle', `[${Array.isArray(answer.bundle) ? answer.bundle.join(' ') : '?'}]`],
    ...(answer.problem === null || answer.problem === undefined ? [] : [['problem', str(answer.problem)] as [string, string]]),
  ];
  const width = Math.max(...fields.map(([name]) => name.length));
  for (const [name, value] of fields) context.io.out(`${`${name}:`.padEnd(width + 1)} ${value}`);
  return EXIT.ok;
}

const AUTHORITY_NOTE = 'exit codes: 0 ok, 1 failed or refused, 2 bad usage, 3 attention needed';

export const READ_COMMANDS: CommandSpec[] = [
  {
    name: 'status', summary: 'The GKE-style status of every authority (or one): generation, phase, bundle, signer, leaves, consumers.', usage: '[authority] [--watch] [--deep]',
    positionals: { min: 0, max: 1 }, remote: true, example: 'certrotate status cluster --watch --endpoint http://127.0.0.1:4566',
    options: {
      watch: { type: 'boolean', description: 'keep reading; print again whenever it changes (Ctrl-C stops)' },
      interval: { type: 'string', value: 'SECONDS', default: '2', description: 'seconds between reads with --watch' },
      'stuck-hours': { type: 'string', value: 'HOURS', default: '24', description: 'a gate waiting this long needs attention (exit 3)' },
      deep: DEEP_OPTION,
    },
    notes: [AUTHORITY_NOTE.replace('attention needed', 'attention needed: a rotation stuck past its gate, or consumers lagging')],
    run: status,
  },
  { name: 'plan', summary: 'A dry run: what the next run would do for each authority, and what it would write where. Changes nothing.', usage: '[authority] [--deep]', positionals: { min: 0, max: 1 }, remote: true, options: { deep: DEEP_OPTION }, example: 'certrotate plan etcd --stack certrotate', run: plan },
  { name: 'history', summary: 'The whole audit history of an authority, oldest first.', usage: '<authority>', positionals: { min: 1, max: 1 }, remote: true, options: {}, example: 'certrotate history cluster --function certrotate-command', run: history },
  {
    name: 'check-expiration', summary: 'One row per CA generation and leaf: expiry, residual time, when certrotate renews or rotates it (like kubeadm certs check-expiration).',
    usage: '[authority]', positionals: { min: 0, max: 1 }, remote: true, options: {}, example: 'certrotate check-expiration --endpoint http://127.0.0.1:4566',
    notes: ['exit 3 when a trusted CA or a leaf is past its renewal point, expired, missing or unreadable'], run: checkExpiration,
  },
  { name: 'inspect', summary: 'A leaf certificate as stored: subject, SANs, issuer generation, validity, key algorithm, fingerprints. Never the key.', usage: '<authority>/<leaf>', positionals: { min: 1, max: 1 }, remote: true, options: {}, example: 'certrotate inspect cluster/kube-apiserver --stack certrotate', run: inspect },
];
