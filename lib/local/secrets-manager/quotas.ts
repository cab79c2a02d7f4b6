/**
 * Secrets Manager's request quotas, enforced the way the service enforces them: a request over its
 * group's rate is refused with HTTP 400, `__type` ThrottlingException, message "Rate exceeded", and
 * does not run.
 *
 * The groups and rates are AWS's documented defaults, per account and region, none adjustable
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html, read
 * 2026-12-04):
 * - PutSecretValue, UpdateSecret, UpdateSecretVersionStage (and the replication calls): 50/s combined
 * - TagResource, UntagResource: 50/s combined
 * - RestoreSecret: 50/s; RotateSecret, CancelRotateSecret: 50/s combined;
 *   the resource-policy calls: 50/s combined
 * - BatchGetSecretValue: 100/s
 * - DescribeSecret and GetSecretValue: 10,000/s combined (an AWS "what's new" of 2025-03-04 says
 *   DescribeSecret alone may reach 40,000/s; the quotas page still lists the combined 10,000/s,
 *   which is the stricter, so it is what we enforce)
 * - CreateSecret, DeleteSecret: 50/s combined, and ListSecrets: 100/s. These two rows were not in
 *   the parts of the page we could read; they are the figures our issue gives, kept as stated.
 *
 * Each group admits at most `rate` requests in any sliding one-second window (a ring of the last
 * `rate` admission times), which is what "N per second" means to someone counting. Writes are not
 * one pool on AWS: certrotate's client-side limiter treats them as one, which is the safe side.
 */
import { AwsError } from '../kit/aws-error.js';

/** Requests per second per documented group, at the real quotas. */
export const SECRETS_MANAGER_QUOTAS: Readonly<Record<string, { operations: readonly string[]; perSecond: number }>> = {
  valueWrites: { operations: ['PutSecretValue', 'UpdateSecret', 'UpdateSecretVersionStage', 'RemoveRegionsFromReplication', 'ReplicateSecretToRegion', 'StopReplicationToReplica'], perSecond: 50 },
  createDelete: { operations: ['CreateSecret', 'DeleteSecret'], perSecond: 50 },
  tags: { operations: ['TagResource', 'UntagResource'], perSecond: 50 },
  restore: { operations: ['RestoreSecret'], perSecond: 50 },
  rotation: { operations: ['RotateSecret', 'CancelRotateSecret'], perSecond: 50 },
  policies: { operations: ['DeleteResourcePolicy', 'GetResourcePolicy', 'PutResourcePolicy', 'ValidateResourcePolicy'], perSecond: 50 },
  batchGet: { operations: ['BatchGetSecretValue'], perSecond: 100 },
  reads: { operations: ['GetSecretValue', 'DescribeSecret'], perSecond: 10_000 },
  list: { operations: ['ListSecrets'], perSecond: 100 },
};

/** The operations whose admissions count as writes in `admitted()` (what the limiter paces). */
export const WRITE_OPERATIONS: ReadonlySet<string> = new Set([
  ...SECRETS_MANAGER_QUOTAS['valueWrites']?.operations ?? [],
  ...SECRETS_MANAGER_QUOTAS['createDelete']?.operations ?? [],
  ...SECRETS_MANAGER_QUOTAS['tags']?.operations ?? [],
  ...SECRETS_MANAGER_QUOTAS['restore']?.operations ?? [],
]);

export interface QuotaOptions {
  /**
   * Multiplies every documented rate (a rate never drops below 1/s). 1 is AWS; tests and
   * `npm start` use a larger factor so that a local run finishes in seconds.
   */
  scale: number;
  /** Per-group overrides of the scaled rate, requests per second (e.g. `{ valueWrites: 40 }`). */
  perSecond?: Partial<Record<string, number>>;
}

/** A sliding one-second window that admits at most `rate` events. */
class SlidingWindow {
  private readonly times: number[];
  private next = 0;
  constructor(readonly rate: number) {
    this.times = new Array<number>(rate).fill(Number.NEGATIVE_INFINITY);
  }
  tryAdmit(now: number): boolean {
    const oldest = this.times[this.next] ?? Number.NEGATIVE_INFINITY;
    if (oldest > now - 1000) return false;
    this.times[this.next] = now;
    this.next = (this.next + 1) % this.rate;
    return true;
  }
}

export interface QuotaCounters {
  /** Requests refused with ThrottlingException, per operation. */
  throttled: Record<string, number>;
  /** Write requests admitted, per whole second of the clock (epoch second -> count). */
  writesPerSecond: Map<number, number>;
  /** Requests admitted per quota group (SECRETS_MANAGER_QUOTAS' keys), per whole second of the clock. */
  admittedPerSecond: Map<string, Map<number, number>>;
}

function emptyCounters(): QuotaCounters {
  return { throttled: {}, writesPerSecond: new Map(), admittedPerSecond: new Map() };
}

/** The quota check the local server runs before every operation. */
export class RequestQuotas {
  private readonly windows = new Map<string, SlidingWindow>();
  private readonly groups = new Map<string, string>();
  private counters: QuotaCounters = emptyCounters();

  constructor(options: QuotaOptions) {
    if (!(options.scale > 0) || !Number.isFinite(options.scale)) throw new RangeError(`quota scale must be a positive number, got ${options.scale}`);
    for (const [group, quota] of Object.entries(SECRETS_MANAGER_QUOTAS)) {
      const rate = Math.max(1, Math.round(options.perSecond?.[group] ?? quota.perSecond * options.scale));
      const window = new SlidingWindow(rate);
      for (const operation of quota.operations) {
        this.windows.set(operation, window);
        this.groups.set(operation, group);
      }
    }
  }

  /** The admitted rate of the group an operation belongs to, requests per second. */
  rateOf(operation: string): number | undefined {
    return this.windows.get(operation)?.rate;
  }

  /** Throws AWS's ThrottlingException when the operation's group is at its rate; else counts it. */
  admit(operation: string, now: number): void {
    const window = this.windows.get(operation);
    if (window === undefined) return;
    if (!window.tryAdmit(now)) {
      this.counters.throttled[operation] = (this.counters.throttled[operation] ?? 0) + 1;
      throw new AwsError('ThrottlingException', 'Rate exceeded', 400);
    }
    const second = Math.floor(now / 1000);
    if (WRITE_OPERATIONS.has(operation)) this.counters.writesPerSecond.set(second, (this.counters.writesPerSecond.get(second) ?? 0) + 1);
    const group = this.groups.get(operation) ?? operation;
    const perSecond = this.counters.admittedPerSecond.get(group) ?? new Map<number, number>();
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    this.counters.admittedPerSecond.set(group, perSecond);
  }

  counts(): QuotaCounters {
    return {
      throttled: { ...this.counters.throttled },
      writesPerSecond: new Map(this.counters.writesPerSecond),
      admittedPerSecond: new Map([...this.counters.admittedPerSecond].map(([group, perSecond]) => [group, new Map(perSecond)])),
    };
  }

  reset(): void {
    this.counters = emptyCounters();
  }
}
