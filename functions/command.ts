/**
 * The operators' function (invoked by hand, or by the CLI): rotate-ca, status, plan, history,
 * pause, resume, rollback and renew. Every event is validated before anything runs; every answer is
 * `{ ok: true, ... }` or `{ ok: false, error: { type, message, statusCode } }`.
 */
import type { Context } from 'aws-lambda';
import { engineDeps, productionDeps, systemClock } from '../lib/handlers/compose.js';
import { findAuthority, parseCommandEvent } from '../lib/handlers/events.js';
import { publishCommandMetrics } from '../lib/handlers/metrics.js';
import { authorityHistory, authorityPlan, authorityStatus, renewLeaves, rotationCommand } from '../lib/handlers/operations.js';
import { createTools, loggingEventSink, withMiddleware, type HandlerOptions } from '../lib/handlers/runtime.js';

export function createHandler(options: HandlerOptions) {
  const tools = options.tools ?? createTools();
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
        const authorities = [];
        for (const authority of scope) authorities.push(await authorityStatus(engine, authority, now));
        for (const status of authorities) tools.logger.info(status.status, { authority: status.authority });
        return { ok: true as const, action: command.action, authorities };
      }
      case 'plan': {
        const authorities = [];
        for (const authority of scope) authorities.push(await authorityPlan(engine, authority, now));
        return { ok: true as const, action: command.action, authorities };
      }
      case 'history':
        return { ok: true as const, action: command.action, ...(await authorityHistory(engine, command.authority)) };
      case 'renew': {
        const [authority] = scope;
        if (authority === undefined) throw new Error('unreachable: renew names an authority');
        const outcome = await renewLeaves(engine, deps.ledger, { authority, requestId: command.requestId, owner: `${context.functionName}:${context.awsRequestId}`, ...(command.leaf === undefined ? {} : { leaf: command.leaf }) }, now);
        tools.logger.info(outcome.applied ? `renewed ${outcome.renewed.length} leaves` : 'request already completed; nothing reissued', { renewed: outcome.renewed, alreadyRenewed: outcome.alreadyRenewed });
        if (outcome.applied) publishCommandMetrics(tools.metrics, authority.name, { renewed: outcome.renewed.length });
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
        const outcome = await rotationCommand(engine, command.authority, rotation, now);
        tools.logger.info(outcome.applied ? `${command.action} applied` : `${command.action} already applied by this request id; nothing changed`, { transition: outcome.transition });
        if (command.action === 'rotate-ca' && outcome.applied) {
          if (command.emergency) tools.logger.warn('EMERGENCY rotation: soak times are skipped', { reason: command.reason });
          publishCommandMetrics(tools.metrics, command.authority, { rotationsStarted: 1 });
        }
        return { ok: true as const, action: command.action, ...outcome };
      }
    }
  });
}

export const handler = createHandler({ clock: systemClock, deps: productionDeps });
