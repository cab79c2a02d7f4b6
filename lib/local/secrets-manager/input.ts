/**
 * Reading Secrets Manager requests: the wire is untyped JSON, so every field is checked before use,
 * and a bad one is answered as the service does (SerializationException, InvalidParameterException).
 */
import { AwsError } from '../kit/aws-error.js';
import { isRecord, type Json } from '../kit/json-protocol.js';

export const MAX_SECRET_BYTES = 65_536;

export const invalidParameter = (message: string): AwsError => new AwsError('InvalidParameterException', message);

/**
 * A field that may be absent (or null); when present it must pass `is`, or the request is answered
 * with a SerializationException saying what `key` must be.
 */
function optionalField<T>(input: Json, key: string, is: (value: unknown) => value is T, what: string): T | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!is(value)) throw new AwsError('SerializationException', `${key} must be ${what}.`);
  return value;
}

export function optionalString(input: Json, key: string): string | undefined {
  return optionalField(input, key, (value): value is string => typeof value === 'string', 'a string');
}

export function requiredString(input: Json, key: string): string {
  const value = optionalString(input, key);
  if (value === undefined || value === '') {
    throw invalidParameter(`You must specify ${key}.`);
  }
  return value;
}

export function optionalNumber(input: Json, key: string): number | undefined {
  return optionalField(input, key, (value): value is number => typeof value === 'number' && Number.isInteger(value), 'an integer');
}

export function optionalBoolean(input: Json, key: string): boolean | undefined {
  return optionalField(input, key, (value): value is boolean => typeof value === 'boolean', 'a boolean');
}

export function optionalStringList(input: Json, key: string): string[] | undefined {
  const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');
  return optionalField(input, key, isStrings, 'a list of strings');
}

export function optionalTags(input: Json, key: string): Array<{ key: string; value: string }> | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    throw new AwsError('SerializationException', `${key} must be a list of tags.`);
  }
  return value.map((tag) => {
    if (!isRecord(tag)) throw new AwsError('SerializationException', 'A tag must be an object.');
    const tagKey = optionalString(tag, 'Key') ?? '';
    const tagValue = optionalString(tag, 'Value') ?? '';
    if (tagKey.length < 1 || tagKey.length > 128) {
      throw invalidParameter('A tag key must be 1 to 128 characters long.');
    }
    if (tagValue.length > 256) throw invalidParameter('A tag value must be at most 256 characters.');
    if (tagKey.toLowerCase().startsWith('aws:')) {
      throw invalidParameter('Tag keys beginning with aws: are reserved for AWS use.');
    }
    return { key: tagKey, value: tagValue };
  });
}

export interface Filter {
  key: string;
  values: string[];
}

const FILTER_KEYS = new Set(['description', 'name', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all']);
const FILTER_VALUE_PATTERN = /^!?[a-zA-Z0-9 :_@/+=.\-!]*$/;

export function optionalFilters(input: Json): Filter[] | undefined {
  const value = input['Filters'];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new AwsError('SerializationException', 'Filters must be a list.');
  return value.map((filter) => {
    if (!isRecord(filter)) throw new AwsError('SerializationException', 'A filter must be an object.');
    const key = optionalString(filter, 'Key') ?? '';
    if (!FILTER_KEYS.has(key)) throw invalidParameter(`Invalid filter key: ${key}.`);
    const values = optionalStringList(filter, 'Values') ?? [];
    if (values.length < 1 || values.length > 10) {
      throw invalidParameter('A filter must have 1 to 10 values.');
    }
    for (const v of values) {
      if (v.length > 512 || !FILTER_VALUE_PATTERN.test(v)) {
        throw invalidParameter(`Invalid filter value: ${v}.`);
      }
    }
    return { key, values };
  });
}

export function checkToken(token: string | undefined): void {
  if (token !== undefined && (token.length < 32 || token.length > 64)) {
    throw invalidParameter('ClientRequestToken must be 32 to 64 characters long.');
  }
}

/** Reads SecretString/SecretBinary; `required` makes "neither" an error. */
export function readSecretValue(
  input: Json,
  required: boolean,
): { secretString: string | undefined; secretBinary: string | undefined } {
  const secretString = optionalString(input, 'SecretString');
  const secretBinary = optionalString(input, 'SecretBinary');
  if (secretString !== undefined && secretBinary !== undefined) {
    throw invalidParameter(
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  if (required && secretString === undefined && secretBinary === undefined) {
    throw invalidParameter('You must provide either SecretString or SecretBinary.');
  }
  if (secretString !== undefined && Buffer.byteLength(secretString, 'utf8') > MAX_SECRET_BYTES) {
    throw invalidParameter(`SecretString must be at most ${MAX_SECRET_BYTES} bytes.`);
  }
  if (secretBinary !== undefined && Buffer.from(secretBinary, 'base64').length > MAX_SECRET_BYTES) {
    throw invalidParameter(`SecretBinary must be at most ${MAX_SECRET_BYTES} bytes.`);
  }
  return { secretString, secretBinary };
}

export function decodeNextToken(token: string | undefined): number {
  if (token === undefined) return 0;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (isRecord(parsed) && typeof parsed['offset'] === 'number' && Number.isInteger(parsed['offset']) && parsed['offset'] >= 0) {
      return parsed['offset'];
    }
  } catch {
    // answered below
  }
  throw new AwsError('InvalidNextTokenException', 'The NextToken value is invalid.');
}

export function encodeNextToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset }), 'utf8').toString('base64url');
}
