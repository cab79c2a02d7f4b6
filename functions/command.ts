/**
 * The operators' function (invoked by hand, or by the CLI): rotate-ca, status, plan, history,
 * pause, resume, rollback, renew, check-expiration and inspect. Every event is validated before anything runs; every answer is
 * `{ ok: true, ... }` or `{ ok: false, error: { type, message, statusCode } }`.
 */
import type { Context } from 'aws-lambda';
import { engineDeps, productionDeps, systemClock } from '../lib/handlers/compose.js';
import { findAuthority, parseCommandEvent } from '../lib/handlers/events.js';
import { publishCommandMetrics } from '../lib/handlers/metrics.js';
import { rotationCommand } from '../lib/engine/commands.js';
import { authorityHistory } from '../lib/engine/history.js';
import { renewLeaves } from '../lib/engine/renew.js';
import { authorityPlan, authorityStatus } from '../lib/engine/status.js';
import { checkExpiration } from '../lib/engine/check-expiration.js';
import { inspectLeaf } from '../lib/engine/inspect-leaf.js';
import type { AuthorityConfig } from '../lib/config/index.js';
import { createTools, errorPayload, loggingEventSink, reportError, withMiddleware, type ErrorPayload, type HandlerOptions } from '../lib/handlers/runtime.js';

/** An authority that could not be read, among others that could. */
interface AuthorityFailure {
  authority: string;
  error: ErrorPayload['error'];
}

export function createHandler(options: HandlerOptions) {
  const tools = options.tools ?? createTools();
  /**
   * One answer per authority. Asked about one, its failure is the answer; asked about all, a
   * broken authority gets an error entry (and counts as a failure) and the others still answer.
   */
  async function eachAuthority<T>(scope: readonly AuthorityConfig[], named: boolean, requestId: string, read: (authority: AuthorityConfig) => Promise<T>): Promise<(T | AuthorityFailure)[]> {
    if (named) return Promise.all(scope.map(read));
    const answers: (T | AuthorityFailure)[] = [];
    for (const authority of scope) {
      try {
        answers.push(await read(authority));
      } catch (error) {
        reportError(tools, error, `reading authority ${authority.name}`);
        answers.push({ authority: authority.name, error: errorPayload(error, requestId).error });
      }
    }
    return answers;
  }
  return withMiddleware(tools, 'payload', async (event: unknown, context: Context) => {
    const deps = options.deps();
    const command = parseCommandEvent(event, deps.config);
    const logKeys = { action: command.action, ...('requestId' in command ? { commandRequestId: command.requestId } : {}) };
    tools.logger.appendKeys(command.authority === undefined ? logKeys : { ...logKeys, authority: command.authority });
    const engine = engineDeps(deps, loggingEventSink(tools.logger));
    const now = options.clock.now();
    const scope = command.authority === undefined ? deps.config.authorities : [findAuthority(deps.config, command.authority)];
    switch (command.action) {
      case 'status': {
        const authorities = await eachAuthority(scope, command.authority !== undefined, context.awsRequestId, (authority) => authorityStatus(engine, authority, now, { deep: command.deep === true }));
        for (const status of authorities) if ('status' in status) tools.logger.info(status.status, { authority: status.authority });
        return { ok: true as const, action: command.action, authorities };
      }
      case 'plan':
        return { ok: true as const, action: command.action, authorities: await eachAuthority(scope, command.authority !== undefined, context.awsRequestId, (authority) => authorityPlan(engine, authority, now, { deep: command.deep === true })) };
      case 'history':
        return { ok: true as const, action: command.action, ...(await authorityHistory(engine.state, command.authority)) };
      case 'check-expiration':
        return { ok: true as const, action: command.action, ...(await checkExpiration(engine, scope, now)) };
      case 'inspect':
        return { ok: true as const, action: command.action, ...(await inspectLeaf(engine, findAuthority(deps.config, command.authority), command.leaf, now)) };
      case 'renew': {
        const [authority] = scope;
        if (authority === undefined) throw new Error('unreachable: renew names an authority');
        const outcome = await renewLeaves(engine, deps.ledger, { authority, requestId: command.requestId, owner: `${context.functionName}:${context.awsRequestId}`, ...(command.leaf === undefined ? {} : { leaf: command.leaf }) }, now);
        tools.logger.info(outcome.applied ? `renewed ${outcome.renewedCount} leaves` : 'request already completed; nothing reissued', { renewed: outcome.renewed, alreadyRenewed: outcome.alreadyRenewed });
        if (outcome.applied) publishCommandMetrics(tools.metrics, authority.name, { renewed: outcome.renewedCount });
        return { ok: true as const, action: command.action, ...outcome };
      }
      case 'rotate-ca':
      case 'pause':
      case 'resume':
      case 'rollback': {
        const rotation =
          command.action === 'rotate-ca'
            ? { kind: command.action, requestId: command.requestId, reason: command.reason, emergency: command.emergency }
            : { kind: command.action, requestId: command.requestId, ...(command.reason === undefined ? {} : { reason: command.reason }) };
        const outcome = await rotationCommand(engine, deps.ledger, command.authority, rotation, now);
        tools.logger.info(outcome.applied ? `${command.action} applied` : `${command.action} already applied by this request id; nothing changed`, { transition: outcome.transition });
        if (command.action === 'rotate-ca' && outcome.applied) {
          if (command.emergency) tools.logger.warn('EMERGENCY rotation: soak times are skipped', { reason: command.reason });
          publishCommandMetrics(tools.metrics, command.authority, { rotationsStarted: 1 });
        }
        return { ok: true as const, action: command.action, ...outcome };
      }
    }
  }, () => options.deps().eventBus);
}

export const handler = createHandler({ clock: systemClock, deps: productionDeps });
