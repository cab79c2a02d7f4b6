/**
 * The sandbox's stdout lines: one per phase transition, renewal and applied operator command,
 * read from the functions' answers (what `aws lambda invoke` would show), stamped with the
 * simulated instant.
 */
import type { InvokeResult } from '../lambda/server.js';

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const records = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isRecord) : []);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

function transitionLine(authority: string, transition: Json): string {
  return `${text(transition.at)} ${authority}: ${text(transition.from)} -> ${text(transition.to)} (${text(transition.why)}; by ${text(transition.by)})`;
}

function scheduledLines(fn: string, payload: Json, at: string): string[] {
  const lines: string[] = [];
  for (const outcome of records(payload.authorities)) {
    const authority = text(outcome.authority);
    const transitions = records(outcome.transitions);
    for (const transition of transitions) lines.push(transitionLine(authority, transition));
    const renewed = typeof outcome.renewed === 'number' ? outcome.renewed : 0;
    if (renewed > 0) lines.push(`${at} ${authority}: ${fn} renewed ${renewed} leaf certificate${renewed === 1 ? '' : 's'}`);
    if (transitions.length > 0) lines.push(`${at} ${text(outcome.status)}`);
  }
  return lines;
}

function commandLines(payload: Json, at: string): string[] {
  if (payload.ok !== true || payload.applied !== true) return [];
  const authority = text(payload.authority);
  if (payload.action === 'renew') {
    return [`${at} ${authority}: renew (request ${text(payload.requestId)}) renewed ${String(payload.renewedCount)} leaf certificate(s)`];
  }
  const transition = isRecord(payload.transition) ? payload.transition : undefined;
  if (transition === undefined) return [];
  return [transitionLine(authority, transition)];
}

export function describeInvocation(invocation: { fn: string; event: Json }, result: InvokeResult, now: number): string[] {
  const at = new Date(now).toISOString();
  const payload = isRecord(result.payload) ? result.payload : {};
  if (result.functionError !== undefined) return [`${at} ${invocation.fn} failed: ${text(payload.errorMessage)}`];
  return invocation.fn === 'command' ? commandLines(payload, at) : scheduledLines(invocation.fn, payload, at);
}
