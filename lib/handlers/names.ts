/**
 * Names shared by the functions and the CDK construct (which must not load the runtime modules):
 * the metric namespace, service and dimension names.
 */
export const METRICS_NAMESPACE = 'certrotate';
export const SERVICE_NAME = 'certrotate';
export const AUTHORITY_DIMENSION = 'authority';

export const METRIC = {
  leavesRenewed: 'LeavesRenewed',
  rotationsStarted: 'CaRotationsStarted',
  rotationsCompleted: 'CaRotationsCompleted',
  daysToEarliestExpiry: 'DaysToEarliestExpiry',
  phaseAgeHours: 'RotationPhaseAgeHours',
  /** Hours the current rotation gate has waited to be met (soak excluded). */
  gateWaitHours: 'RotationGateWaitHours',
  /** Consumers not holding the authority's bundle (unreachable ones included) at the end of a run. */
  consumersLagging: 'ConsumersLagging',
  failures: 'Failures',
  /** Events that could not be put on EventBridge (after retries); the run itself went on. */
  eventsNotDelivered: 'EventsNotDelivered',
} as const;
