/**
 * The resource kinds the local Kubernetes server knows, and their validation and defaulting, with
 * the API's field paths in every cause.
 */
import { isRecord, type Json } from '../kit/json-protocol.js';
import { invalid, type Cause } from './status.js';

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  /** Workloads get metadata.generation bumped when their spec changes. */
  hasGeneration: boolean;
}

export const RESOURCES: readonly ResourceType[] = [
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', hasGeneration: false },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', hasGeneration: false },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', hasGeneration: true },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', hasGeneration: true },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', hasGeneration: true },
];

export const apiVersionOf = (type: ResourceType): string => (type.group === '' ? type.version : `${type.group}/${type.version}`);

export const MAX_BODY_BYTES = 3 * 1024 * 1024;
const MAX_DATA_BYTES = 1024 * 1024;
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DATA_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const LABEL_NAME = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(?=.{0,63}$)(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function validateMetadata(object: Json, causes: Cause[]): void {
  const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
  for (const which of ['labels', 'annotations'] as const) {
    const map = metadata[which];
    if (map === undefined) continue;
    if (!isRecord(map)) {
      causes.push({ reason: 'FieldValueInvalid', message: 'must be a map of strings', field: `metadata.${which}` });
      continue;
    }
    for (const [key, value] of Object.entries(map)) {
      const slash = key.lastIndexOf('/');
      const prefix = slash < 0 ? undefined : key.slice(0, slash);
      const name = slash < 0 ? key : key.slice(slash + 1);
      if (!LABEL_NAME.test(name) || (prefix !== undefined && !DNS_SUBDOMAIN.test(prefix))) {
        causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.'`, field: `metadata.${which}` });
      }
      if (typeof value !== 'string') {
        causes.push({ reason: 'FieldValueInvalid', message: 'must be a string', field: `metadata.${which}.${key}` });
      } else if (which === 'labels' && !LABEL_VALUE.test(value)) {
        causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', at most 63 characters`, field: `metadata.labels` });
      }
    }
  }
}

function validateDataMap(map: unknown, field: string, base64: boolean, causes: Cause[]): number {
  if (map === undefined) return 0;
  if (!isRecord(map)) {
    causes.push({ reason: 'FieldValueInvalid', message: 'must be a map', field });
    return 0;
  }
  let size = 0;
  for (const [key, value] of Object.entries(map)) {
    if (!DATA_KEY.test(key)) {
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${key}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`, field: `${field}[${key}]` });
    }
    if (typeof value !== 'string' || (base64 && !BASE64.test(value))) {
      causes.push({ reason: 'FieldValueInvalid', message: base64 ? 'must be a base64-encoded string' : 'must be a string', field: `${field}[${key}]` });
      continue;
    }
    size += base64 ? Buffer.from(value, 'base64').length : Buffer.byteLength(value, 'utf8');
  }
  return size;
}

export function validate(type: ResourceType, object: Json, previous: Json | undefined): void {
  const causes: Cause[] = [];
  validateMetadata(object, causes);
  if (type.kind === 'Secret') {
    const size = validateDataMap(object['data'], 'data', true, causes);
    if (size > MAX_DATA_BYTES) causes.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_DATA_BYTES} bytes`, field: 'data' });
    const secretType = object['type'];
    if (typeof secretType !== 'string') causes.push({ reason: 'FieldValueInvalid', message: 'must be a string', field: 'type' });
    if (previous !== undefined && previous['type'] !== secretType) {
      causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: field is immutable', field: 'type' });
    }
    if (secretType === 'kubernetes.io/tls') {
      const data = isRecord(object['data']) ? object['data'] : {};
      for (const key of ['tls.crt', 'tls.key']) {
        if (!(key in data)) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `data[${key}]` });
      }
    }
  } else if (type.kind === 'ConfigMap') {
    const size = validateDataMap(object['data'], 'data', false, causes) + validateDataMap(object['binaryData'], 'binaryData', true, causes);
    if (size > MAX_DATA_BYTES) causes.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_DATA_BYTES} bytes`, field: 'data' });
    const data = isRecord(object['data']) ? object['data'] : {};
    const binary = isRecord(object['binaryData']) ? object['binaryData'] : {};
    for (const key of Object.keys(data)) {
      if (key in binary) causes.push({ reason: 'FieldValueInvalid', message: 'duplicate of key present in binaryData', field: `data[${key}]` });
    }
  } else if (!isRecord(object['spec'])) {
    causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec' });
  }
  if (causes.length > 0) {
    const metadata = isRecord(object['metadata']) ? object['metadata'] : {};
    throw invalid(type, typeof metadata['name'] === 'string' ? metadata['name'] : '', causes);
  }
}

/** Secret `stringData` is write-only: merged into `data` (base64) on every write. */
export function normalize(type: ResourceType, object: Json): void {
  if (type.kind !== 'Secret') return;
  const stringData = object['stringData'];
  if (isRecord(stringData)) {
    const data = isRecord(object['data']) ? { ...object['data'] } : {};
    for (const [key, value] of Object.entries(stringData)) {
      if (typeof value === 'string') data[key] = Buffer.from(value, 'utf8').toString('base64');
    }
    object['data'] = data;
  }
  delete object['stringData'];
  if (object['type'] === undefined) object['type'] = 'Opaque';
}

// ---------------------------------------------------------------------------------------------
