/**
 * Every 5 minutes: moves each rotation in progress (and a first bootstrap) as many safe steps as
 * fit in the time budget, stopping a margin before the Lambda timeout; what is left waits for the
 * next run. Authorities that are Stable are not touched (the hourly scan looks after them).
 */
import type { Context } from 'aws-lambda';
import { engineDeps, productionDeps, systemClock } from '../lib/handlers/compose.js';
import { parseAdvanceEvent } from '../lib/handlers/events.js';
import { finishScheduled } from '../lib/handlers/report.js';
import { createTools, loggingEventSink, withMiddleware, type HandlerOptions } from '../lib/handlers/runtime.js';
import { runScheduled } from '../lib/engine/scheduled.js';

/** No new step starts with less than this left: a step (a bundle publication) must finish. */
export const ADVANCE_MARGIN_MS = 60_000;

export function createHandler(options: HandlerOptions) {
  const tools = options.tools ?? createTools();
  return withMiddleware(tools, 'throw', async (event: unknown, context: Context) => {
    parseAdvanceEvent(event);
    const result = await runScheduled(engineDeps(options.deps(), loggingEventSink(tools.logger)), {
      kind: 'advance',
      now: options.clock.now(),
      owner: `${context.functionName}:${context.awsRequestId}`,
      outOfTime: () => context.getRemainingTimeInMillis() < ADVANCE_MARGIN_MS,
      onAuthority: (authority) => (authority === undefined ? tools.logger.removeKeys(['authority']) : tools.logger.appendKeys({ authority })),
    });
    return finishScheduled(tools, result, context.awsRequestId);
  }, () => options.deps().eventBus);
}

export const handler = createHandler({ clock: systemClock, deps: productionDeps });
