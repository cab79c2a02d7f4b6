/**
 * The EventBridge Scheduler schedules: the hourly scan, the daily reconcile (the scan function in
 * `reconcile` mode) and the advance every 5 minutes, through one role that may invoke exactly
 * those two functions. Scheduler invokes asynchronously: its retry policy covers failures to
 * invoke, the functions' own async retries and on-failure destination cover failed runs.
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

export interface CertificateRotationSchedules {
  /** Renew what is due, start the rotations that are due. Default `rate(1 hour)`. */
  scan?: scheduler.ScheduleExpression;
  /** Read every secret, repair the inventory. Default daily at 03:17 UTC. */
  reconcile?: scheduler.ScheduleExpression;
  /** Move rotations in progress. Default `rate(5 minutes)`. */
  advance?: scheduler.ScheduleExpression;
  /** Create the schedules disabled (for a dry deployment). Default true. */
  enabled?: boolean;
}

export interface SchedulesOptions {
  scan: lambda.Function;
  advance: lambda.Function;
  /** Where a schedule's undeliverable invocations go. */
  failures: sqs.IQueue;
}

export function schedules(scope: Construct, functions: SchedulesOptions, options: CertificateRotationSchedules): void {
  const { scan, advance, failures } = functions;
  const enabled = options.enabled ?? true;
  const role = schedulerRole(scope, [
    { fn: scan, name: 'scan' },
    { fn: advance, name: 'advance' },
  ]);
  const target = (fn: lambda.IFunction, input: Record<string, unknown>) =>
    new targets.LambdaInvoke(fn, {
      role,
      input: scheduler.ScheduleTargetInput.fromObject(input),
      deadLetterQueue: failures,
      retryAttempts: 3,
      maxEventAge: Duration.hours(1),
    });
  new scheduler.Schedule(scope, 'ScanSchedule', {
    description: 'certrotate hourly scan',
    schedule: options.scan ?? scheduler.ScheduleExpression.rate(Duration.hours(1)),
    target: target(scan, { mode: 'scan' }),
    enabled,
  });
  new scheduler.Schedule(scope, 'ReconcileSchedule', {
    description: 'certrotate daily reconcile',
    schedule: options.reconcile ?? scheduler.ScheduleExpression.cron({ minute: '17', hour: '3' }),
    target: target(scan, { mode: 'reconcile' }),
    enabled,
  });
  new scheduler.Schedule(scope, 'AdvanceSchedule', {
    description: 'certrotate rotation advance',
    schedule: options.advance ?? scheduler.ScheduleExpression.rate(Duration.minutes(5)),
    target: target(advance, {}),
    enabled,
  });
}

/** The role the schedules assume; cdk-nag's finding on each function's versions wildcard acknowledged. */
function schedulerRole(scope: Construct, invoked: readonly { fn: lambda.Function; name: string }[]): iam.Role {
  const stack = Stack.of(scope);
  const role = new iam.Role(scope, 'SchedulerRole', {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': stack.account } } }),
    description: 'certrotate schedules: invoke the scan and advance functions, dead-letter to the failure queue',
  });
  Validations.of(role).acknowledge(
    ...invoked.map(({ fn, name }) => ({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${stack.getLogicalId(functionResource(fn))}.Arn>:*]`,
      reason: `lambda:InvokeFunction on the ${name} function and its versions (granted by the scheduler target), nothing else.`,
    })),
  );
  return role;
}

function functionResource(fn: lambda.Function): lambda.CfnFunction {
  const resource = fn.node.defaultChild;
  if (!(resource instanceof lambda.CfnFunction)) throw new Error('unreachable: a Function is backed by a CfnFunction');
  return resource;
}
