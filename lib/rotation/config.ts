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

/** What the fields are called where the configuration came from, so a message names what to edit. */
export interface RotationFieldNames {
  caLifetime: string;
  rotationLead: string;
  soakTrustExpanded: string;
  soakLeavesMigrated: string;
  republishAfter: string;
}

const MS_FIELD_NAMES: RotationFieldNames = {
  caLifetime: 'caLifetimeMs',
  rotationLead: 'rotationLeadMs',
  soakTrustExpanded: 'soakMs.trustExpanded',
  soakLeavesMigrated: 'soakMs.leavesMigrated',
  republishAfter: 'republishAfterMs',
};

/**
 * Throws ValidationError unless the configuration can rotate without an outage. The lead time must
 * be at least the longest leaf lifetime, so that a leaf issued just before a rotation starts can be
 * renewed from N+1 before N expires; and it must leave room for both soaks.
 */
export function validateRotationConfig(config: RotationConfig, longestLeafLifetimeMs: number, names: RotationFieldNames = MS_FIELD_NAMES): void {
  const positive: [string, number][] = [
    [names.caLifetime, config.caLifetimeMs],
    [names.rotationLead, config.rotationLeadMs],
    [names.soakTrustExpanded, config.soakMs.trustExpanded],
    [names.soakLeavesMigrated, config.soakMs.leavesMigrated],
    [names.republishAfter, config.republishAfterMs],
    ['longest leaf lifetime', longestLeafLifetimeMs],
  ];
  for (const [name, value] of positive) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new ValidationError(`rotation config: ${name} must be a positive finite number`);
    }
  }
  if (config.rotationLeadMs >= config.caLifetimeMs) {
    throw new ValidationError(
      `rotation config: ${names.rotationLead} (${formatDuration(config.rotationLeadMs)}) must be shorter than ${names.caLifetime} ` +
        `(${formatDuration(config.caLifetimeMs)}), or every CA would be due for rotation as soon as it is created`,
    );
  }
  if (config.rotationLeadMs < longestLeafLifetimeMs) {
    throw new ValidationError(
      `rotation config: ${names.rotationLead} (${formatDuration(config.rotationLeadMs)}) is shorter than the longest leaf ` +
        `lifetime (${formatDuration(longestLeafLifetimeMs)}): a leaf issued just before a rotation could outlive its CA. ` +
        `Raise ${names.rotationLead} or shorten the leaves`,
    );
  }
  const soaks = config.soakMs.trustExpanded + config.soakMs.leavesMigrated;
  if (config.rotationLeadMs <= soaks) {
    throw new ValidationError(
      `rotation config: ${names.rotationLead} (${formatDuration(config.rotationLeadMs)}) must exceed the two soak times ` +
        `together (${formatDuration(soaks)}), or the CA expires before a rotation can finish`,
    );
  }
}
