/**
 * The metrics the alarms and the dashboard read, all in the `certrotate` namespace with the
 * dimensions `service` and (per authority) `authority`. Values only: names, counts and durations,
 * never certificate or key material.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { AUTHORITY_DIMENSION, METRIC } from './names.js';
import type { AuthorityOutcome } from '../engine/scheduled.js';

export { AUTHORITY_DIMENSION, METRIC };


/** One EMF document per authority (dimensions are flushed with it). */
export function publishAuthorityMetrics(metrics: Metrics, outcome: AuthorityOutcome): void {
  metrics.addDimension(AUTHORITY_DIMENSION, outcome.authority);
  metrics.addMetric(METRIC.leavesRenewed, MetricUnit.Count, outcome.renewed);
  metrics.addMetric(METRIC.rotationsStarted, MetricUnit.Count, outcome.rotationsStarted);
  metrics.addMetric(METRIC.rotationsCompleted, MetricUnit.Count, outcome.rotationsCompleted);
  // Not observed (skipped or failed): no data point, rather than a zero that looks healthy.
  if (outcome.phaseAgeHours !== undefined) metrics.addMetric(METRIC.phaseAgeHours, MetricUnit.Count, outcome.phaseAgeHours);
  if (outcome.gateWaitHours !== undefined) metrics.addMetric(METRIC.gateWaitHours, MetricUnit.Count, outcome.gateWaitHours);
  if (outcome.laggingConsumers !== undefined) metrics.addMetric(METRIC.consumersLagging, MetricUnit.Count, outcome.laggingConsumers.length);
  if (outcome.daysToEarliestExpiry !== undefined) metrics.addMetric(METRIC.daysToEarliestExpiry, MetricUnit.Count, outcome.daysToEarliestExpiry);
  metrics.addMetric(METRIC.failures, MetricUnit.Count, outcome.error === undefined ? 0 : 1);
  metrics.publishStoredMetrics();
}

/** Per-authority counters for a command (leaves renewed, a rotation forced). */
export function publishCommandMetrics(metrics: Metrics, authority: string, counts: { renewed?: number; rotationsStarted?: number }): void {
  if (counts.renewed === undefined && counts.rotationsStarted === undefined) return;
  metrics.addDimension(AUTHORITY_DIMENSION, authority);
  if (counts.renewed !== undefined) metrics.addMetric(METRIC.leavesRenewed, MetricUnit.Count, counts.renewed);
  if (counts.rotationsStarted !== undefined) metrics.addMetric(METRIC.rotationsStarted, MetricUnit.Count, counts.rotationsStarted);
  metrics.publishStoredMetrics();
}
