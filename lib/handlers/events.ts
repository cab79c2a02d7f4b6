/**
 * The events the Lambdas accept, validated at the edge with lib/validate: unknown keys are
 * refused, every problem is named with its path, and nothing runs on a bad event.
 */
import type { AuthorityConfig, CertrotateConfig } from '../config/index.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { Problems, boolean, idRule, keyMaterialProblem, object, oneOf, string, type Fields } from '../config/validate.js';

export const COMMAND_ACTIONS = ['rotate-ca', 'status', 'plan', 'history', 'pause', 'resume', 'rollback', 'renew', 'check-expiration', 'inspect'] as const;
export type CommandAction = (typeof COMMAND_ACTIONS)[number];

export type CommandEvent =
  | { action: 'rotate-ca'; authority: string; requestId: string; reason: string; emergency: boolean }
  | { action: 'pause' | 'resume' | 'rollback'; authority: string; requestId: string; reason?: string }
  | { action: 'renew'; authority: string; requestId: string; leaf?: string; reason?: string }
  | { action: 'status' | 'plan'; authority?: string; deep?: boolean }
  | { action: 'history'; authority: string }
  | { action: 'check-expiration'; authority?: string }
  | { action: 'inspect'; authority: string; leaf: string };

const AUTHORITY = { pattern: /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, hint: 'must be an authority name (lowercase letters, digits and dashes)' };
const REQUEST_ID = idRule(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1-128 letters, digits, . _ : or - (reuse it to retry safely)');
const LEAF_ID = idRule(/^[A-Za-z0-9_.-]{1,128}$/, 'must be a leaf id of the configuration');
/** A reason goes into the audit history and the logs: nothing that looks like a key (pasted by mistake) gets there. */
function reasonProblem(reason: string): string | undefined {
  if (reason.trim().length === 0 || reason.length > 1024) return 'must be 1-1024 characters, not only spaces';
  const keyMaterial = keyMaterialProblem(reason);
  return keyMaterial === undefined ? undefined : `${keyMaterial}: a reason must hold no key material`;
}

const KEYS: Record<CommandAction, { required: string[]; optional: string[] }> = {
  'rotate-ca': { required: ['action', 'authority', 'requestId', 'reason'], optional: ['emergency'] },
  pause: { required: ['action', 'authority', 'requestId'], optional: ['reason'] },
  resume: { required: ['action', 'authority', 'requestId'], optional: ['reason'] },
  rollback: { required: ['action', 'authority', 'requestId'], optional: ['reason'] },
  renew: { required: ['action', 'authority', 'requestId'], optional: ['leaf', 'reason'] },
  status: { required: ['action'], optional: ['authority', 'deep'] },
  plan: { required: ['action'], optional: ['authority', 'deep'] },
  history: { required: ['action', 'authority'], optional: [] },
  'check-expiration': { required: ['action'], optional: ['authority'] },
  inspect: { required: ['action', 'authority', 'leaf'], optional: [] },
};

/** Validates an operator command; throws ValidationError (bad shape) or NotFoundError (unknown name). */
export function parseCommandEvent(event: unknown, config: CertrotateConfig): CommandEvent {
  const problems = new Problems();
  const head = object(event, 'event', problems, { required: ['action'], optional: ['authority', 'requestId', 'reason', 'emergency', 'leaf', 'deep'] });
  const action = head === undefined || head.action === undefined ? undefined : oneOf(head.action, 'event.action', problems, COMMAND_ACTIONS);
  problems.throwIfAny('the command');
  if (action === undefined) throw new ValidationError('the command is invalid: event.action is required');
  const parsed = parseFields(action, object(event, 'event', problems, KEYS[action]) ?? {}, problems);
  problems.throwIfAny(`the ${action} command`);
  if (parsed === undefined) throw new ValidationError(`the ${action} command is invalid`);
  if ('authority' in parsed && parsed.authority !== undefined) {
    const authority = findAuthority(config, parsed.authority);
    if ((parsed.action === 'renew' || parsed.action === 'inspect') && parsed.leaf !== undefined) findLeaf(config, authority, parsed.leaf);
  }
  return parsed;
}

function parseFields(action: CommandAction | undefined, fields: Fields, problems: Problems): CommandEvent | undefined {
  if (action === undefined) return undefined;
  const authority = fields.authority === undefined ? undefined : string(fields.authority, 'event.authority', problems, AUTHORITY);
  const requestId = fields.requestId === undefined ? undefined : string(fields.requestId, 'event.requestId', problems, REQUEST_ID);
  const reason = fields.reason === undefined ? undefined : string(fields.reason, 'event.reason', problems, reasonProblem);
  switch (action) {
    case 'status':
    case 'plan': {
      // deep: read every leaf secret instead of the inventory (lib/engine/observe.ts observeForOperator).
      const deep = fields.deep === undefined ? undefined : boolean(fields.deep, 'event.deep', problems);
      return { action, ...(authority === undefined ? {} : { authority }), ...(deep === true ? { deep } : {}) };
    }
    case 'history':
      return authority === undefined ? undefined : { action, authority };
    case 'check-expiration':
      return authority === undefined ? { action } : { action, authority };
    case 'inspect': {
      const leaf = fields.leaf === undefined ? undefined : string(fields.leaf, 'event.leaf', problems, LEAF_ID);
      return authority === undefined || leaf === undefined ? undefined : { action, authority, leaf };
    }
    case 'rotate-ca': {
      const emergency = fields.emergency === undefined ? false : boolean(fields.emergency, 'event.emergency', problems);
      if (authority === undefined || requestId === undefined || reason === undefined || emergency === undefined) return undefined;
      return { action, authority, requestId, reason, emergency };
    }
    case 'pause':
    case 'resume':
    case 'rollback':
      if (authority === undefined || requestId === undefined) return undefined;
      return reason === undefined ? { action, authority, requestId } : { action, authority, requestId, reason };
    case 'renew': {
      const leaf = fields.leaf === undefined ? undefined : string(fields.leaf, 'event.leaf', problems, LEAF_ID);
      if (authority === undefined || requestId === undefined) return undefined;
      return { action, authority, requestId, ...(leaf === undefined ? {} : { leaf }), ...(reason === undefined ? {} : { reason }) };
    }
  }
}

export function findAuthority(config: CertrotateConfig, name: string): AuthorityConfig {
  const authority = config.authorities.find((candidate) => candidate.name === name);
  if (authority === undefined) {
    throw new NotFoundError(
      `no authority named "${name}" in the configuration (configured: ${config.authorities.map((a) => a.name).join(', ') || 'none'})`,
    );
  }
  return authority;
}

function findLeaf(config: CertrotateConfig, authority: AuthorityConfig, id: string): void {
  if (!config.leaves.some((leaf) => leaf.authority === authority.name && leaf.id === id)) {
    throw new NotFoundError(`authority "${authority.name}" has no leaf "${id}" in the configuration`);
  }
}

export type ScheduleMode = 'scan' | 'reconcile';

/** An EventBridge rule's own envelope, delivered where the schedule's input should have been set. */
function refuseEnvelope(event: unknown, what: string, input: string): void {
  if (typeof event === 'object' && event !== null && 'detail-type' in event && 'source' in event) {
    throw new ValidationError(`the ${what} got an EventBridge event envelope: set the schedule's input to ${input}`);
  }
}

/** The scan function's event, as an EventBridge Scheduler target input: `{"mode": "scan"}`. */
export function parseScanEvent(event: unknown): { mode: ScheduleMode } {
  refuseEnvelope(event, 'scan function', '{"mode":"scan"} or {"mode":"reconcile"}');
  const problems = new Problems();
  const fields = object(event ?? {}, 'event', problems, { required: [], optional: ['mode'] });
  const mode = fields?.mode === undefined ? 'scan' : oneOf(fields.mode, 'event.mode', problems, ['scan', 'reconcile'] as const);
  problems.throwIfAny('the scan event');
  return { mode: mode ?? 'scan' };
}

/** The advance function takes no input: `{}` (Scheduler's default) or nothing. */
export function parseAdvanceEvent(event: unknown): Record<string, never> {
  refuseEnvelope(event, 'advance function', '{}');
  const problems = new Problems();
  object(event ?? {}, 'event', problems, { required: [] });
  problems.throwIfAny('the advance event');
  return {};
}
