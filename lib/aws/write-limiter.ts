/**
 * One rate limiter for every Secrets Manager write (PutSecretValue, CreateSecret, TagResource,
 * UpdateSecretVersionStage, RestoreSecret...). AWS allows 50 such writes per second per region, a
 * quota shared with everything else in the account that cannot be raised, so certrotate stays
 * well under it and retries throttling with exponential backoff and full jitter.
 */

export interface WriteLimiterOptions {
  /** Sustained writes per second. Default 20, leaving room for other software in the account. */
  writesPerSecond?: number;
  /**
   * Writes allowed back to back before spacing applies. Default 1: writes are spaced evenly, so
   * no one-second window ever holds more than `writesPerSecond` of them.
   */
  burst?: number;
  /**
   * Attempts per write, the first included, while the service throttles. Default 10. A quota that
   * never clears (LimitExceededException also means "too many secrets") must surface eventually:
   * the last error is then thrown, never swallowed.
   */
  maxAttempts?: number;
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

export class WriteLimiter {
  private readonly intervalMs: number;
  private readonly burst: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  /** Theoretical arrival time of the next write (GCRA): reserved synchronously, so concurrent callers get distinct slots. */
  private nextSlotMs = Number.NEGATIVE_INFINITY;

  constructor(options: WriteLimiterOptions = {}) {
    const rate = options.writesPerSecond ?? 20;
    if (!(rate > 0) || !Number.isFinite(rate)) {
      throw new RangeError(`writesPerSecond must be a positive number, got ${rate}`);
    }
    this.intervalMs = 1000 / rate;
    this.burst = Math.max(1, Math.floor(options.burst ?? 1));
    this.maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 10));
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 20_000;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
  }

  /** Waits for a write slot. Every attempt, retries included, takes one. */
  async acquire(): Promise<void> {
    const now = this.now();
    const slot = Math.max(this.nextSlotMs, now);
    this.nextSlotMs = slot + this.intervalMs;
    const allowedAt = slot - (this.burst - 1) * this.intervalMs;
    if (allowedAt > now) await this.sleep(allowedAt - now);
  }

  /**
   * Runs one write within the rate, retrying throttling and transient errors (5xx, timeouts,
   * dropped connections) with exponential backoff and full jitter. Any other error is thrown at once.
   */
  async run<T>(write: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      await this.acquire();
      try {
        return await write();
      } catch (error) {
        if (!(isThrottlingError(error) || isTransientError(error)) || attempt >= this.maxAttempts) throw error;
        const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
        await this.sleep(this.random() * ceiling);
      }
    }
  }
}
