/**
 * What certrotate puts on EventBridge: one documented detail type per engine event, source
 * `certrotate`, on the default bus. The detail is the engine event's detail with `authority`
 * first; a text that looks like key material is replaced, never sent (the engine never puts a
 * key in an event; this is the last line of defence).
 */
import { keyMaterialProblem } from '../config/validate.js';

export const EVENT_SOURCE = 'certrotate';

/** Engine event type -> EventBridge detail type (README "Events"). */
export const DETAIL_TYPES: Readonly<Record<string, string>> = {
  'phase-changed': 'Rotation Phase Changed',
  'leaf-reissued': 'Leaf Renewed',
  'leaves-renewed': 'Leaves Renewed',
  'leaves-reissued': 'Leaves Reissued From New CA',
  'leaf-unissuable': 'Leaf Unissuable',
  'leaf-problem': 'Leaf Problem Found',
  'renewal-blocked': 'Renewal Blocked',
  'renewal-failed': 'Renewal Failed',
  'ca-generated': 'CA Generated',
  'ca-imported': 'CA Imported',
  'ca-retired': 'CA Retired',
  'ca-lost': 'CA Lost',
  'bundle-published': 'Bundle Published',
  'consumer-published': 'Consumer Updated',
  'consumer-restart-missing': 'Consumer Restart Target Missing',
  'consumer-unavailable': 'Consumer Unavailable',
  'consumer-rejected': 'Consumer Rejected',
  'consumer-conflict': 'Consumer Conflict',
};

/** `some-new-event` -> `Some New Event`: an event type added later is still sent, never dropped. */
export function detailTypeOf(type: string): string {
  return DETAIL_TYPES[type] ?? type.split(/[-_\s]+/).filter(Boolean).map((word) => word[0]?.toUpperCase() + word.slice(1)).join(' ');
}

const REDACTED = '[looks like key material: not sent]';

function clean(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return keyMaterialProblem(value) === undefined ? value : REDACTED;
  if (depth > 8 || value === null || typeof value !== 'object') return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  if (Array.isArray(value)) return value.map((item) => clean(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [keyMaterialProblem(key) === undefined ? key : REDACTED, clean(item, depth + 1)]),
  );
}

/** The detail sent for an engine event: `{ authority, ...detail }`, with key-like text replaced. */
export function eventDetail(event: { type: string; authority: string; detail: Record<string, unknown> }): Record<string, unknown> {
  const detail = clean(event.detail);
  return { authority: event.authority, ...(typeof detail === 'object' && detail !== null ? detail : {}) };
}
