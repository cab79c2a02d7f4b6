/**
 * An adaptive limiter for one quota group of requests. Named for its first use, one limiter for
 * every Secrets Manager write (PutSecretValue, CreateSecret, TagResource, UpdateSecretVersionStage,
 * RestoreSecret...); the same mechanism paces KMS calls (lib/aws/kms-ca-keys.ts) and each
 * Secrets Manager read quota (lib/aws/read-limiters.ts), where "write" below reads "request".
 * AWS allows 50 value writes per second per region
 * (and 50 each for create/delete, tags and restore), a quota shared with everything else in the
 * account that cannot be raised. A fixed per-function rate cannot know what the hourly scan, the
 * 5-minute advance and an operator's renew are doing at the same moment, so the rate adapts
 * (AIMD, as TCP does): every write that lands adds `increasePerSecond / rate` (about
 * `increasePerSecond` per second of success); a throttle cuts the rate at most once per second
 * (the quota's own window), by the share of attempts refused since the last cut (what the service
 * admitted is about the rate times the share that landed), and by `decrease` at least, to a
 * quarter at most; all between `minWritesPerSecond` and `maxWritesPerSecond`. A lone run at the
 * quota meets a throttle now and then (network jitter brings two evenly spaced writes closer than
 * their spacing): the gentle least cut (0.9) keeps its sawtooth near the quota, where a fixed cut
 * of 0.7 kept it 84% busy; runs asking twice the quota see half their writes refused and halve
 * their rates at once. At most `maxInFlight` writes are
 * outstanding at once. A throttled or transient failure is retried with exponential backoff and
 * full jitter; nothing is dropped: after `maxAttempts` the last error is thrown to the caller.
 */

export interface WriteLimiterOptions {
  /** Starting writes per second. Default 20, leaving room for other software in the account. */
  writesPerSecond?: number;
  /** Ceiling of the additive increase. Default `writesPerSecond` (the rate never rises above where it started). */
  maxWritesPerSecond?: number;
  /** Floor of the multiplicative decrease. Default 1. */
  minWritesPerSecond?: number;
  /** Rate regained per second of writes without throttling. Default 5% of the ceiling (at least 0.5). */
  increasePerSecond?: number;
  /** Factor applied to the rate on throttling. Default 0.9. */
  decrease?: number;
  /** Writes outstanding at once; the others wait. Default max(4, ceiling / 2). */
  maxInFlight?: number;
  /**
   * Writes allowed back to back before spacing applies. Default 1: writes are spaced evenly, so
   * no one-second window ever holds more than the current rate of them.
   */
  burst?: number;
  /**
   * Attempts per write, the first included, while the service throttles. Default 10. A quota that
   * never clears (LimitExceededException also means "too many secrets") must surface eventually:
   * the last error is then thrown, never swallowed.
   */
  maxAttempts?: number;
  /**
   * Attempts per write, the first included, while it fails transiently (5xx, timeouts, dropped
   * connections): a hung endpoint must not hold the run for `maxAttempts` timeouts. Default `maxAttempts`.
   */
  maxTransientAttempts?: number;
  /** First backoff ceiling in ms; it doubles per retry up to `maxDelayMs`. Default 100. */
  baseDelayMs?: number;
  /** Default 20,000. */
  maxDelayMs?: number;
  /** Epoch ms; the wall clock unless a test injects one. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1), for the jitter. */
  random?: () => number;
}

/** What a limiter has seen since it was made. */
export interface WriteLimiterStats {
  /** Writes that landed. */
  succeeded: number;
  /** Attempts refused with a throttling error (each retried unless attempts ran out). */
  throttled: number;
  /** Writes given up on (their error was thrown to the caller). */
  failed: number;
  /** The current rate, writes per second. */
  rate: number;
}

const THROTTLING_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'LimitExceededException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

/** True for the errors that mean "slow down and try again". */
export function isThrottlingError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (THROTTLING_NAMES.has(error.name)) return true;
  const metadata: unknown = '$metadata' in error ? error.$metadata : undefined;
  return (
    typeof metadata === 'object' &&
    metadata !== null &&
    'httpStatusCode' in metadata &&
    metadata.httpStatusCode === 429
  );
}

const TRANSIENT_NAMES = new Set(['InternalServiceError', 'InternalFailure', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeout']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * True for the errors a retry may clear: a 5xx answer, a timeout, a dropped connection. Retrying a
 * write is safe because every write carries a deterministic ClientRequestToken (a repeat is a no-op).
 */
export function isTransientError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (TRANSIENT_NAMES.has(error.name)) return true;
  const code: unknown = 'code' in error ? error.code : undefined;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  const metadata: unknown = '$metadata' in error ? error.$metadata : undefined;
  const status: unknown = typeof metadata === 'object' && metadata !== null && 'httpStatusCode' in metadata ? metadata.httpStatusCode : undefined;
  return typeof status === 'number' && status >= 500;
}

const realSleep = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

/** AWS's value-write quota (PutSecretValue, UpdateSecret, UpdateSecretVersionStage), per second, per account and region. */
export const SECRETS_MANAGER_WRITE_QUOTA = 50;

/** How long a rate cut takes to show: AWS counts its quotas per second. */
const ROUND_MS = 1000;

export class WriteLimiter {
  private rate: number;
  private readonly maxRate: number;
  private readonly minRate: number;
  private readonly increase: number;
  private readonly decrease: number;
  private readonly maxInFlight: number;
  private readonly burst: number;
  private readonly maxAttempts: number;
  private readonly maxTransientAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  /** Theoretical arrival time of the next write (GCRA): reserved synchronously, so concurrent callers get distinct slots. */
  private nextSlotMs = Number.NEGATIVE_INFINITY;
  /** Attempts, and throttled ones, since the last cut: the share refused sets the next cut. */
  private attemptsSinceCut = 0;
  private throttledSinceCut = 0;
  /** When the rate was last cut: a throttled attempt that started before it does not cut again. */
  private lastDecreaseMs = Number.NEGATIVE_INFINITY;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly counts = { succeeded: 0, throttled: 0, failed: 0 };

  constructor(options: WriteLimiterOptions = {}) {
    const rate = options.writesPerSecond ?? 20;
    const positive = (value: number, name: string): number => {
      if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a positive number, got ${value}`);
      return value;
    };
    this.rate = positive(rate, 'writesPerSecond');
    this.maxRate = Math.max(rate, positive(options.maxWritesPerSecond ?? rate, 'maxWritesPerSecond'));
    this.minRate = Math.min(rate, positive(options.minWritesPerSecond ?? 1, 'minWritesPerSecond'));
    this.increase = positive(options.increasePerSecond ?? Math.max(0.5, this.maxRate * 0.05), 'increasePerSecond');
    this.decrease = options.decrease ?? 0.9;
    if (!(this.decrease > 0 && this.decrease < 1)) throw new RangeError(`decrease must be in (0, 1), got ${this.decrease}`);
    this.maxInFlight = Math.max(1, Math.floor(options.maxInFlight ?? Math.max(4, Math.ceil(this.maxRate / 2))));
    this.burst = Math.max(1, Math.floor(options.burst ?? 1));
    this.maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 10));
    this.maxTransientAttempts = Math.max(1, Math.min(this.maxAttempts, Math.floor(options.maxTransientAttempts ?? this.maxAttempts)));
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 20_000;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
  }

  stats(): WriteLimiterStats {
    return { ...this.counts, rate: this.rate };
  }

  /** Waits for a write slot at the current rate. Every attempt, retries included, takes one. */
  async acquire(): Promise<void> {
    const now = this.now();
    const intervalMs = 1000 / this.rate;
    const slot = Math.max(this.nextSlotMs, now);
    this.nextSlotMs = slot + intervalMs;
    const allowedAt = slot - (this.burst - 1) * intervalMs;
    if (allowedAt > now) await this.sleep(allowedAt - now);
  }

  /**
   * Runs one write within the rate, retrying throttling and transient errors (5xx, timeouts,
   * dropped connections) with exponential backoff and full jitter. Any other error is thrown at once.
   */
  async run<T>(write: () => Promise<T>): Promise<T> {
    await this.enter();
    try {
      return await this.attempt(write);
    } finally {
      this.leave();
    }
  }

  private async attempt<T>(write: () => Promise<T>): Promise<T> {
    let transientFailures = 0;
    for (let attempt = 1; ; attempt += 1) {
      await this.acquire();
      this.attemptsSinceCut += 1;
      const startedMs = this.now();
      try {
        const result = await write();
        this.counts.succeeded += 1;
        this.rate = Math.min(this.maxRate, this.rate + this.increase / this.rate);
        return result;
      } catch (error) {
        const throttled = isThrottlingError(error);
        if (throttled) this.onThrottled(startedMs);
        const retryable = throttled || (isTransientError(error) && ++transientFailures < this.maxTransientAttempts);
        if (!retryable || attempt >= this.maxAttempts) {
          this.counts.failed += 1;
          throw error;
        }
        const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        await this.sleep(this.random() * ceiling);
      }
    }
  }

  private onThrottled(startedMs: number): void {
    this.counts.throttled += 1;
    this.throttledSinceCut += 1;
    // One cut per round: the quota is counted over one second, so the effect of a cut shows only
    // after a second of writes at the new rate; throttles before then do not cut again.
    if (startedMs < this.lastDecreaseMs + ROUND_MS) return;
    const landed = 1 - this.throttledSinceCut / Math.max(1, this.attemptsSinceCut);
    this.attemptsSinceCut = 0;
    this.throttledSinceCut = 0;
    this.rate = Math.max(this.minRate, this.rate * Math.max(0.25, Math.min(this.decrease, landed)));
    this.lastDecreaseMs = this.now();
    // Slots already handed out were spaced for the old rate: the next one waits a full new interval.
    this.nextSlotMs = Math.max(this.nextSlotMs, this.lastDecreaseMs + 1000 / this.rate);
  }

  private async enter(): Promise<void> {
    if (this.inFlight < this.maxInFlight) {
      this.inFlight += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private leave(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.inFlight -= 1;
    else next();
  }
}
