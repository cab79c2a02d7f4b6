/**
 * The commands that change something: rotate-ca, pause, resume, rollback, renew. Each carries a
 * request id (made here unless --request-id is given, and printed: reuse it to retry safely) and
 * a reason for the audit history.
 */
import { randomBytes } from 'node:crypto';
import { EXIT, UsageError } from '../errors.js';
import { MUTATING_OPTIONS, stringOption, type CommandSpec, type RunContext } from '../spec.js';

type Json = Record<string, unknown>;

/** `cli-20270101T000000Z-1a2b3c`: sortable, unique enough, valid for the command function. */
export function newRequestId(now = new Date()): string {
  return `cli-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(3).toString('hex')}`;
}

function requestOf(context: RunContext): { requestId: string; reason?: string } {
  const requestId = stringOption(context.values, 'request-id') ?? newRequestId();
  const reason = stringOption(context.values, 'reason');
  return reason === undefined ? { requestId } : { requestId, reason };
}

function report(context: RunContext, action: string, answer: Json, requestId: string): number {
  if (context.json) {
    context.io.out(JSON.stringify({ ...answer, requestId }, null, 2));
    return EXIT.ok;
  }
  const authority = String(answer.authority);
  if (action === 'renew') {
    const renewed = Array.isArray(answer.renewed) ? answer.renewed.join(', ') : '';
    context.io.out(answer.applied === true ? `${authority}: renewed ${String(answer.renewedCount)} leaf certificate(s) from CA ${String(answer.generation)}${renewed === '' ? '' : ` (${renewed})`}` : `${authority}: request ${requestId} had already completed; nothing reissued`);
  } else {
    const transition = answer.transition as Json | null;
    const what = transition === null ? '' : `: ${String(transition.from)} -> ${String(transition.to)}`;
    context.io.out(answer.applied === true ? `${authority}: ${action} applied${what}` : `${authority}: ${action} was already applied by request ${requestId}; nothing changed`);
    context.io.out(`${authority}: now CA generation ${String(answer.generation)}, phase ${String(answer.phase)}${answer.paused === true ? ' (paused)' : ''}`);
    if (action === 'rotate-ca' && answer.emergency === true) context.io.err('EMERGENCY rotation: soak times are skipped');
  }
  context.io.out(`request id: ${requestId}`);
  return EXIT.ok;
}

async function rotation(context: RunContext, action: 'rotate-ca' | 'pause' | 'resume' | 'rollback'): Promise<number> {
  const request = requestOf(context);
  if (action === 'rotate-ca' && request.reason === undefined) throw new UsageError('rotate-ca needs --reason TEXT (it goes into the audit history)');
  const payload: Json = { action, authority: context.positionals[0], ...request };
  if (action === 'rotate-ca') payload.emergency = context.values.emergency === true;
  return report(context, action, await (await context.target()).invoke(payload), request.requestId);
}

async function renew(context: RunContext): Promise<number> {
  const request = requestOf(context);
  const [authority, leaf] = context.positionals;
  const answer = await (await context.target()).invoke({ action: 'renew', authority, ...(leaf === undefined ? {} : { leaf }), ...request });
  return report(context, 'renew', answer, request.requestId);
}

const rotationCommand = (name: 'pause' | 'resume' | 'rollback', summary: string): CommandSpec => ({
  name, summary, usage: '<authority> [--reason TEXT] [--request-id ID]', positionals: { min: 1, max: 1 }, remote: true, options: MUTATING_OPTIONS,
  example: `certrotate ${name} cluster --reason "change freeze" --endpoint http://127.0.0.1:4566`,
  run: (context) => rotation(context, name),
});

export const MUTATING_COMMANDS: CommandSpec[] = [
  {
    name: 'rotate-ca', summary: 'Forces a CA rotation of an authority (N to N+1, zero downtime); --emergency skips the soaks after a key compromise.',
    usage: '<authority> --reason TEXT [--emergency] [--request-id ID]', positionals: { min: 1, max: 1 }, remote: true,
    options: { ...MUTATING_OPTIONS, reason: { type: 'string', value: 'TEXT', description: 'why (required): recorded in the audit history' }, emergency: { type: 'boolean', description: 'a compromised key: skip soak times (still waits for every consumer)' } },
    example: 'certrotate rotate-ca cluster --reason "planned rotation" --stack certrotate',
    run: (context) => rotation(context, 'rotate-ca'),
  },
  rotationCommand('pause', 'Pauses the rotation in progress (nothing moves until resume).'),
  rotationCommand('resume', 'Resumes a paused rotation.'),
  rotationCommand('rollback', 'Walks the rotation back (reissue from N, then drop N+1); allowed until N is retired.'),
  {
    name: 'renew', summary: 'Reissues the leaves of an authority now (or one leaf), like for like, from the current signer.',
    usage: '<authority> [leaf] [--reason TEXT] [--request-id ID]', positionals: { min: 1, max: 2 }, remote: true, options: MUTATING_OPTIONS,
    example: 'certrotate renew cluster kube-apiserver --reason "key exposed in a log" --endpoint http://127.0.0.1:4566', run: renew,
  },
];
