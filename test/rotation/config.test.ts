import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.js';
import { defaultRotationConfig, validateRotationConfig } from '../../lib/rotation/index.js';
import { DAY, HOUR } from './fixtures.js';

describe('validateRotationConfig', () => {
  it('accepts the defaults for leaves of up to 30 days', () => {
    expect(() => validateRotationConfig(defaultRotationConfig, 30 * DAY)).not.toThrow();
  });

  it('soaks longer than the hour Secrets Manager caching clients keep a value, by default', () => {
    expect(defaultRotationConfig.soakMs.trustExpanded).toBeGreaterThan(HOUR);
    expect(defaultRotationConfig.soakMs.leavesMigrated).toBeGreaterThan(HOUR);
    expect(defaultRotationConfig.rotationLeadMs).toBe(30 * DAY);
  });

  it('rejects a lead time shorter than the longest leaf lifetime', () => {
    expect(() => validateRotationConfig(defaultRotationConfig, 30 * DAY + 1)).toThrow(ValidationError);
    expect(() => validateRotationConfig(defaultRotationConfig, 31 * DAY)).toThrow(/shorter than the longest leaf lifetime/);
  });

  it('rejects a lead time as long as the CA lifetime', () => {
    const config = { ...defaultRotationConfig, caLifetimeMs: 30 * DAY };
    expect(() => validateRotationConfig(config, DAY)).toThrow(/must be shorter than caLifetimeMs/);
  });

  it('rejects a lead time that leaves no room for the soaks', () => {
    const config = { ...defaultRotationConfig, rotationLeadMs: 4 * HOUR };
    expect(() => validateRotationConfig(config, HOUR)).toThrow(/must exceed the two soak times/);
  });

  it.each([
    ['caLifetimeMs', { ...defaultRotationConfig, caLifetimeMs: 0 }],
    ['rotationLeadMs', { ...defaultRotationConfig, rotationLeadMs: -1 }],
    ['soakMs.trustExpanded', { ...defaultRotationConfig, soakMs: { trustExpanded: 0, leavesMigrated: HOUR } }],
    ['soakMs.leavesMigrated', { ...defaultRotationConfig, soakMs: { trustExpanded: HOUR, leavesMigrated: Number.NaN } }],
    ['republishAfterMs', { ...defaultRotationConfig, republishAfterMs: 0 }],
  ])('rejects a non-positive %s', (name, config) => {
    expect(() => validateRotationConfig(config, DAY)).toThrow(`${name} must be a positive finite number`);
  });
});
