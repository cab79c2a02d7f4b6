/**
 * Hourly (EventBridge Scheduler, `{"mode":"scan"}`): renews the leaves that are due and starts the
 * CA rotations that are due. Daily with `{"mode":"reconcile"}`: reads every leaf secret, repairs
 * the inventory and reissues whatever was edited out of band.
 */
import type { Context } from 'aws-lambda';
import { engineDeps, productionDeps, systemClock } from '../lib/handlers/compose.js';
import { parseScanEvent } from '../lib/handlers/events.js';
import { finishScheduled } from '../lib/handlers/report.js';
import { createTools, loggingEventSink, withMiddleware, type HandlerOptions } from '../lib/handlers/runtime.js';
import { runScheduled } from '../lib/engine/scheduled.js';

/** Stop starting new work this long before the timeout; a secret write in flight must finish. */
export const SCAN_MARGIN_MS = 120_000;

export function createHandler(options: HandlerOptions) {
  const tools = options.tools ?? createTools();
  return withMiddleware(tools, 'throw', async (event: unknown, context: Context) => {
    const { mode } = parseScanEvent(event);
    const result = await runScheduled(engineDeps(options.deps(), loggingEventSink(tools.logger)), {
      kind: mode,
      now: options.clock.now(),
      owner: `${context.functionName}:${context.awsRequestId}`,
      outOfTime: () => context.getRemainingTimeInMillis() < SCAN_MARGIN_MS,
      onAuthority: (authority) => (authority === undefined ? tools.logger.removeKeys(['authority']) : tools.logger.appendKeys({ authority })),
    });
    return finishScheduled(tools, result, context.awsRequestId);
  }, () => options.deps().eventBus);
}

export const handler = createHandler({ clock: systemClock, deps: productionDeps });
