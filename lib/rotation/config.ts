import { ValidationError } from '../errors.js';
import { formatDuration } from './format.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

export interface RotationConfig {
  /** Validity of a newly generated CA. */
  caLifetimeMs: number;
  /** A rotation starts when the current CA expires within this much time. */
  rotationLeadMs: number;
  /**
   * Minimum time a gate must have been observed met before the next phase. Longer than the hour
   * Secrets Manager caching clients keep a value, so no client still runs on the previous one.
   */
  soakMs: { trustExpanded: number; leavesMigrated: number };
  /**
   * How long to wait for lagging consumers before writing the same bundle to them again. AWS
   * advises updating one secret at most once every 10 minutes.
   */
  republishAfterMs: number;
}

export const defaultRotationConfig: RotationConfig = {
  caLifetimeMs: 365 * DAY,
  rotationLeadMs: 30 * DAY,
  soakMs: { trustExpanded: 2 * HOUR, leavesMigrated: 2 * HOUR },
  republishAfterMs: 10 * 60 * 1000,
};

/**
 * Throws ValidationError unless the configuration can rotate without an outage. The lead time must
 * be at least the longest leaf lifetime, so that a leaf issued just before a rotation starts can be
 * renewed from N+1 before N expires; and it must leave room for both soaks.
 */
export function validateRotationConfig(config: RotationConfig, longestLeafLifetimeMs: number): void {
  const positive: [string, number][] = [
    ['caLifetimeMs', config.caLifetimeMs],
    ['rotationLeadMs', config.rotationLeadMs],
    ['soakMs.trustExpanded', config.soakMs.trustExpanded],
    ['soakMs.leavesMigrated', config.soakMs.leavesMigrated],
    ['republishAfterMs', config.republishAfterMs],
    ['longest leaf lifetime', longestLeafLifetimeMs],
  ];
  for (const [name, value] of positive) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new ValidationError(`rotation config: ${name} must be a positive number of milliseconds, got ${String(value)}`);
    }
  }
  if (config.rotationLeadMs >= config.caLifetimeMs) {
    throw new ValidationError(
      `rotation config: rotationLeadMs (${formatDuration(config.rotationLeadMs)}) must be shorter than caLifetimeMs ` +
        `(${formatDuration(config.caLifetimeMs)}), or every CA would be due for rotation as soon as it is created`,
    );
  }
  if (config.rotationLeadMs < longestLeafLifetimeMs) {
    throw new ValidationError(
      `rotation config: rotationLeadMs (${formatDuration(config.rotationLeadMs)}) is shorter than the longest leaf ` +
        `lifetime (${formatDuration(longestLeafLifetimeMs)}): a leaf issued just before a rotation could outlive its CA. ` +
        `Raise rotationLeadMs or shorten the leaves`,
    );
  }
  const soaks = config.soakMs.trustExpanded + config.soakMs.leavesMigrated;
  if (config.rotationLeadMs <= soaks) {
    throw new ValidationError(
      `rotation config: rotationLeadMs (${formatDuration(config.rotationLeadMs)}) must exceed the two soak times ` +
        `together (${formatDuration(soaks)}), or the CA expires before a rotation can finish`,
    );
  }
}
