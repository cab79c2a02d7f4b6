/**
 * The middleware stack every function shares: Powertools logger (Lambda context and request id
 * in every line), Powertools metrics (EMF, flushed after each invocation) and error shaping in the
 * style of middy's http-error-handler: errors the caller can act on (under 500) show their message
 * in `{ ok: false, error }`; anything else is logged in full and answered with a generic failure.
 */
import middy from '@middy/core';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { Context } from 'aws-lambda';
import { CommandRefusedError, ConflictError, NotFoundError, StoredDataError, ValidationError } from '../errors.js';
import type { Clock, EventSink } from '../ports.js';
import type { HandlerDeps } from './compose.js';
import { METRIC, METRICS_NAMESPACE, SERVICE_NAME } from './names.js';


export interface HandlerTools {
  logger: Logger;
  metrics: Metrics;
}

/** What a function's factory takes: tests pass a simulated clock and the local adapters. */
export interface HandlerOptions {
  clock: Clock;
  /** Called on each invocation; the production one composes once and then returns the same deps. */
  deps: () => HandlerDeps;
  tools?: HandlerTools;
}

export function createTools(): HandlerTools {
  return {
    logger: new Logger({ serviceName: SERVICE_NAME }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
  };
}

export interface ErrorPayload {
  ok: false;
  error: { type: string; message: string; statusCode: number };
}

/** Errors whose message is for the caller, with the HTTP-like status a client can branch on. */
export function clientStatus(error: unknown): number | undefined {
  if (error instanceof ValidationError) return 400;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof CommandRefusedError || error instanceof ConflictError) return 409;
  return undefined;
}

export function errorPayload(error: unknown, requestId: string): ErrorPayload {
  const statusCode = clientStatus(error);
  if (statusCode !== undefined && error instanceof Error) {
    return { ok: false, error: { type: error.name, message: error.message, statusCode } };
  }
  // Our own words, naming what to restore: worth showing, though it is a failure (500, counted).
  if (error instanceof StoredDataError) return { ok: false, error: { type: error.name, message: error.message, statusCode: 500 } };
  return {
    ok: false,
    error: { type: 'InternalError', message: `certrotate failed internally; see the function's logs for request ${requestId}`, statusCode: 500 },
  };
}

/** Logs an error at the level it deserves and (unless the caller counts it) adds it to Failures. */
export function reportError(tools: HandlerTools, error: unknown, what: string, count = true): void {
  if (clientStatus(error) !== undefined && error instanceof Error) {
    tools.logger.warn(`${what} refused`, { error: { type: error.name, message: error.message } });
    return;
  }
  if (count) tools.metrics.addMetric(METRIC.failures, MetricUnit.Count, 1);
  if (error instanceof Error) tools.logger.error(`${what} failed`, error);
  else tools.logger.error(`${what} failed`, { error: String(error) });
}

/** Events from the engine go to the log as structured lines (and are kept for the result). */
export function loggingEventSink(logger: Logger): EventSink & { emitted: { type: string; authority: string }[] } {
  const emitted: { type: string; authority: string }[] = [];
  return {
    emitted,
    emit(event) {
      emitted.push({ type: event.type, authority: event.authority });
      // `...-failed` events (a renewal that failed behind a failed step) need someone's attention.
      if (event.type.endsWith('-failed')) logger.error(`event ${event.type}`, { authority: event.authority, event });
      else logger.info(`event ${event.type}`, { authority: event.authority, event });
    },
  };
}

/**
 * Sends the run's events to EventBridge before the handler returns. It never fails the run: what
 * could not be delivered is a warning and the EventsNotDelivered metric.
 */
async function flushEvents(tools: HandlerTools, eventBus: (() => HandlerDeps['eventBus']) | undefined): Promise<void> {
  let bus: HandlerDeps['eventBus'];
  try {
    bus = eventBus?.();
  } catch {
    return; // No deps (an invalid environment): that error is the one reported.
  }
  if (bus === undefined) return;
  const { undelivered, reason } = await bus.flush();
  tools.metrics.addMetric(METRIC.eventsNotDelivered, MetricUnit.Count, undelivered);
  if (undelivered > 0) tools.logger.warn(`${undelivered} events could not be put on EventBridge; the run itself is unaffected`, { reason });
}

/**
 * Wraps a handler body. `shape: 'payload'` (the command function) answers every error with an
 * error payload; `shape: 'throw'` (the scheduled functions) rethrows every error, a malformed event
 * included, so Lambda counts the error, retries, and sends the event to the destination.
 */
export function withMiddleware<E, R>(
  tools: HandlerTools,
  shape: 'payload' | 'throw',
  body: (event: E, context: Context) => Promise<R>,
  eventBus?: () => HandlerDeps['eventBus'],
) {
  const shaping: middy.MiddlewareObj<E, R | ErrorPayload> = {
      // A zero keeps the Failures series continuous, so its alarm sees data on every invocation.
      after: async () => {
        tools.metrics.addMetric(METRIC.failures, MetricUnit.Count, 0);
        await flushEvents(tools, eventBus);
      },
      onError: async (request) => {
        await flushEvents(tools, eventBus);
        const { error } = request;
        if (shape === 'throw') {
          // A scheduled function that cannot run its event (a bad schedule input included) fails
          // as a function error: the Errors alarm, Lambda's retries and the dead letter all see it.
          tools.metrics.addMetric(METRIC.failures, MetricUnit.Count, 1);
          if (error instanceof Error) tools.logger.error('invocation failed', error);
          else tools.logger.error('invocation failed', { error: String(error) });
          return;
        }
        reportError(tools, error, 'invocation');
        // A refused request is the caller's mistake, not a failure of certrotate.
        if (clientStatus(error) !== undefined) tools.metrics.addMetric(METRIC.failures, MetricUnit.Count, 0);
        request.response = errorPayload(error, request.context.awsRequestId);
      },
  };
  return middy<E, R | ErrorPayload>()
    .use(injectLambdaContext(tools.logger, { resetKeys: true }))
    .use(logMetrics(tools.metrics))
    .use(shaping)
    .handler(body);
}
