/**
 * Turning a scheduled run into its log lines, metrics and result; a run in which an authority
 * failed ends in an error after every other authority was done, so Lambda counts it and retries.
 */
import { CertrotateError } from '../errors.js';
import { publishAuthorityMetrics } from './metrics.js';
import { errorPayload, reportError, type HandlerTools } from './runtime.js';
import type { ScheduledResult } from '../engine/scheduled.js';

/** Some authorities failed; each failure is in the log with its own authority key. */
export class ScheduledRunError extends CertrotateError {
  override name = 'ScheduledRunError';
}

export function finishScheduled(tools: HandlerTools, result: ScheduledResult, requestId: string) {
  const failed: string[] = [];
  const authorities = result.authorities.map((outcome) => {
    tools.logger.appendKeys({ authority: outcome.authority });
    if (outcome.error !== undefined) {
      failed.push(outcome.authority);
      // Counted by publishAuthorityMetrics, with the authority dimension.
      reportError(tools, outcome.error, `${result.kind} of authority ${outcome.authority}`, false);
    } else {
      tools.logger.info(outcome.status, {
        steps: outcome.steps,
        transitions: outcome.transitions,
        renewed: outcome.renewed,
        daysToEarliestExpiry: outcome.daysToEarliestExpiry,
        gateWaitHours: outcome.gateWaitHours,
        laggingConsumers: outcome.laggingConsumers,
      });
    }
    publishAuthorityMetrics(tools.metrics, outcome);
    const { error, ...rest } = outcome;
    return error === undefined ? rest : { ...rest, error: errorPayload(error, requestId).error };
  });
  tools.logger.removeKeys(['authority']);
  if (result.deferred.length > 0) {
    tools.logger.warn('time budget spent; left for the next run', { deferred: result.deferred });
  }
  if (failed.length > 0) {
    throw new ScheduledRunError(`${result.kind}: ${failed.length} of ${result.authorities.length} authorities failed (${failed.join(', ')}); see the log lines with those authority keys`);
  }
  return { ok: true as const, kind: result.kind, authorities, deferred: result.deferred };
}
