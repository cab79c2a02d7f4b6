/**
 * Alarms (to the alarm topic, on alarm and back to OK) and one dashboard. Per authority: a
 * certificate close to expiry, a rotation stuck in one phase, and, for an authority with external
 * consumers, a consumer lagging for hours; for the whole service: internal failures, function
 * errors and messages in the failure queue. The metrics are the ones lib/handlers/names.ts names.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { CertrotateConfig } from '../../lib/config/index.js';
import { AUTHORITY_DIMENSION, METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../../lib/handlers/names.js';
import type { FunctionName } from '../bundling.js';

const HOUR_MS = 3_600_000;

export interface CertificateRotationAlarms {
  /** Where alarms go. A topic (encrypted with the construct's key) is created when absent. */
  topic?: sns.ITopic;
  /** Subscribed to the created topic (ignored with `topic`). */
  email?: string;
  /**
   * A certificate this close to expiry alarms. Default: half of the renewal window (12 hours with
   * the default renewBeforeHours of 24): by then its renewal should already have happened.
   */
  expiryWithinDays?: number;
  /**
   * A rotation in one phase longer than this alarms. Default per authority: its longest soak
   * plus 24 hours (every phase waits at most for its soak and for consumers to catch up).
   */
  stuckPhaseHours?: number;
  /**
   * An authority with external consumers alarms when some consumer has not held its bundle (or its leaf
   * copy) for this many hours in a row, unreachable clusters included: in Stable too, where no
   * phase is stuck but a copy in a cluster may be heading for expiry. Default 6.
   */
  consumerLagHours?: number;
}

export interface AlarmsInputs {
  config: CertrotateConfig;
  topic: sns.ITopic;
  functions: Record<FunctionName, lambda.IFunction>;
  failures: sqs.IQueue;
}

type Authority = CertrotateConfig['authorities'][number];
/** Creates an alarm in the construct's scope that notifies the topic on alarm and on OK. */
type AlarmFactory = (id: string, props: cloudwatch.AlarmProps) => cloudwatch.Alarm;

export function alarmsAndDashboard(scope: Construct, inputs: AlarmsInputs, options: CertificateRotationAlarms): cloudwatch.Dashboard {
  const action = new cloudwatchActions.SnsAction(inputs.topic);
  const alarm: AlarmFactory = (id, props) => {
    const created = new cloudwatch.Alarm(scope, id, props);
    created.addAlarmAction(action);
    created.addOkAction(action);
    return created;
  };
  const expiryDays = options.expiryWithinDays ?? inputs.config.renewal.renewBeforeMs / 2 / (24 * HOUR_MS);
  const dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', { defaultInterval: Duration.days(7) });
  for (const authority of inputs.config.authorities) authorityAlarms(alarm, dashboard, authority, expiryDays, options);
  serviceAlarms(alarm, dashboard, inputs);
  return dashboard;
}

/** One authority's expiry and stuck-phase alarms (and consumer lag, with EKS consumers), and its row of graphs. */
function authorityAlarms(alarm: AlarmFactory, dashboard: cloudwatch.Dashboard, authority: Authority, expiryDays: number, options: CertificateRotationAlarms): void {
  const name = authority.name;
  const soak = Math.max(authority.rotation.soakMs.trustExpanded, authority.rotation.soakMs.leavesMigrated) / HOUR_MS;
  const stuckHours = options.stuckPhaseHours ?? soak + 24;
  const days = metric(METRIC.daysToEarliestExpiry, name, 'Minimum', Duration.hours(1));
  const age = metric(METRIC.phaseAgeHours, name, 'Maximum', Duration.hours(1));
  const gateWait = metric(METRIC.gateWaitHours, name, 'Maximum', Duration.hours(1));
  alarm(`${name}ExpiryAlarm`, {
    alarmDescription:
      `certrotate: a certificate of authority ${name} expires within ${expiryDays} days, so its renewal did not happen in time ` +
      '(or the hourly scan has reported nothing for 3 hours). Read the status and the scan function logs.',
    metric: days,
    threshold: expiryDays,
    comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
    evaluationPeriods: 3,
    datapointsToAlarm: 1,
    treatMissingData: cloudwatch.TreatMissingData.BREACHING,
  });
  alarm(`${name}StuckAlarm`, {
    alarmDescription:
      `certrotate: authority ${name} has been in one rotation phase for more than ${stuckHours} hours (paused, or consumers not picking up the bundle). ` +
      'Read the status: it names the lagging consumers.',
    metric: age,
    threshold: stuckHours,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    // A run that could not look at the authority (busy, or failing: FailuresAlarm covers that)
    // publishes no phase age; missing data keeps the alarm as it was rather than clearing it.
    treatMissingData: cloudwatch.TreatMissingData.IGNORE,
  });
  if (externalConsumerCount(authority) > 0) consumersLaggingAlarm(alarm, dashboard, name, options.consumerLagHours ?? 6);
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({ title: `${name}: days to earliest expiry`, left: [days], leftAnnotations: [{ value: expiryDays, label: 'alarm' }], width: 8 }),
    new cloudwatch.GraphWidget({ title: `${name}: hours in current phase, and waiting at its gate`, left: [age, gateWait], leftAnnotations: [{ value: stuckHours, label: 'alarm' }], width: 8 }),
    new cloudwatch.GraphWidget({
      title: `${name}: renewals and rotations`,
      left: [
        metric(METRIC.leavesRenewed, name, 'Sum', Duration.hours(1)),
        metric(METRIC.rotationsStarted, name, 'Sum', Duration.hours(1)),
        metric(METRIC.rotationsCompleted, name, 'Sum', Duration.hours(1)),
      ],
      width: 8,
    }),
  );
}

/**
 * The stuck alarm already fires when a rotation gate waits past its limit (the phase age grows
 * while consumers lag). This one covers lag outside rotations too.
 */
/** The targets the ConsumersLagging metric counts: EKS objects, trust stores, API Gateway domains, ACM certificates. */
function externalConsumerCount(authority: Authority): number {
  const consumers = authority.consumers;
  return (consumers?.eks.length ?? 0) + (consumers?.elbv2TrustStores?.length ?? 0) + (consumers?.apiGatewayDomains?.length ?? 0) + (consumers?.acmCertificates?.length ?? 0);
}

function consumersLaggingAlarm(alarm: AlarmFactory, dashboard: cloudwatch.Dashboard, name: string, lagHours: number): void {
  if (!Number.isInteger(lagHours) || lagHours < 1 || lagHours > 24) throw new Error(`alarms.consumerLagHours must be a whole number of hours within 1-24, got ${lagHours}`);
  const lagging = metric(METRIC.consumersLagging, name, 'Minimum', Duration.hours(1));
  alarm(`${name}ConsumersLaggingAlarm`, {
    alarmDescription:
      `certrotate: some EKS consumer of authority ${name} has not held its bundle or leaf for ${lagHours} hours in a row ` +
      '(a cluster unreachable or refusing, an access entry missing). The scan log line and the status name it.',
    metric: lagging,
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: lagHours,
    datapointsToAlarm: lagHours,
    treatMissingData: cloudwatch.TreatMissingData.IGNORE,
  });
  dashboard.addWidgets(new cloudwatch.GraphWidget({ title: `${name}: consumers lagging`, left: [lagging], width: 8 }));
}

/** Alarms that any failure raises, whatever the authority: internal failures, function errors, dead letters. */
function serviceAlarms(alarm: AlarmFactory, dashboard: cloudwatch.Dashboard, inputs: AlarmsInputs): void {
  const onFirst = {
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  };
  const failures = metric(METRIC.failures, undefined, 'Sum', Duration.minutes(15));
  alarm('FailuresAlarm', {
    alarmDescription: 'certrotate: a run or a command failed internally. Its log line carries the request id and the authority.',
    metric: failures,
    ...onFirst,
  });
  const errorMetrics: cloudwatch.IMetric[] = [];
  for (const [name, fn] of Object.entries(inputs.functions)) {
    const errors = fn.metricErrors({ period: Duration.minutes(15), statistic: 'Sum' });
    errorMetrics.push(errors);
    alarm(`${name}ErrorsAlarm`, {
      alarmDescription: `certrotate: the ${name} function ended in an error (a crash, a timeout, or an authority that failed). Read its logs.`,
      metric: errors,
      ...onFirst,
    });
  }
  const depth = inputs.failures.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' });
  alarm('DeadLetterAlarm', {
    alarmDescription: 'certrotate: a scheduled run could not be delivered or failed every retry; the message in the failure queue says which. Fix the cause, then purge the queue.',
    metric: depth,
    ...onFirst,
  });
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({ title: 'function errors', left: errorMetrics, width: 8 }),
    new cloudwatch.GraphWidget({ title: 'internal failures', left: [failures], width: 8 }),
    new cloudwatch.GraphWidget({ title: 'failure queue depth', left: [depth], width: 8 }),
  );
}

/** A certrotate metric, per authority or (without one) for the whole service. */
function metric(name: string, authority: string | undefined, statistic: string, period: Duration): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: authority === undefined ? { service: SERVICE_NAME } : { service: SERVICE_NAME, [AUTHORITY_DIMENSION]: authority },
    statistic,
    period,
  });
}
