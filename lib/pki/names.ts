/**
 * The rules a name must follow to go into a certificate, written once: issuance applies them, and
 * the configuration applies the very same functions, so a name the configuration accepts is a name
 * lib/pki can issue (a leaf the configuration accepted can never fail every run at issuance).
 * Each `...Problem` function returns why the value is refused, or undefined when it is fine.
 */
import 'reflect-metadata';
import { isIP } from 'node:net';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { ValidationError } from '../errors.js';
import { LruMap } from './lru.js';

/** LDH labels of 1-63 characters, ASCII only, an optional leading `*.` wildcard, no trailing dot. */
const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const DNS_NAME_MAX = 253;
/** RFC 3986: a scheme, a colon, then no white space or control characters. */
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s\u0000-\u001f\u007f]+$/;

export function dnsNameProblem(name: string): string | undefined {
  if (name.length > DNS_NAME_MAX) return `is ${name.length} characters long; a DNS name has at most ${DNS_NAME_MAX}`;
  if (!DNS_NAME.test(name)) {
    return 'is not a DNS name (ASCII letters, digits and -, labels of 1-63 characters not starting or ending with -, separated by single dots, no trailing dot; a leading "*." is allowed)';
  }
  return undefined;
}

export function ipAddressProblem(address: string): string | undefined {
  if (address.includes('%')) return 'is an IPv6 address with a zone, which a certificate cannot carry';
  const family = isIP(address);
  if (family === 0) return 'is not an IPv4 or IPv6 address (no host names, no CIDR ranges)';
  // @peculiar/x509 would encode `::ffff:10.0.0.1` as `::ffff:10`: refuse the dotted form rather than mangle it.
  if (family === 6 && address.includes('.')) return 'is an IPv6 address with a dotted IPv4 part; write it in hex groups (::ffff:a00:1) or as plain IPv4';
  return undefined;
}

export function uriProblem(uri: string): string | undefined {
  if (!URI.test(uri) || !URL.canParse(uri)) return 'is not an absolute URI like "spiffe://cluster.local/ns/default/sa/api"';
  return undefined;
}

/** Far above any real distinguished name (RFC 5280 bounds a CN to 64 characters); parsing is not linear. */
const SUBJECT_MAX = 1024;
/** An attribute value that starts with an unescaped `#`. */
const HEX_VALUE = /(?:^|[,+])\s*[A-Za-z0-9.]+\s*=\s*#/;

/** Parsed subjects, by text: a fleet's leaves are issued again and again with the same subjects. */
const PARSED_SUBJECTS = new LruMap<string, asn1X509.Name>(4096);

/** Parses a distinguished name (see `parseName`); the result is shared, never to be changed. */
export function parseSubject(subject: string): asn1X509.Name {
  return PARSED_SUBJECTS.getOrSet(subject, () => parseName(subject));
}

/** Parses a distinguished name like `CN=api,O=example` (attribute types in upper case, values not empty). */
function parseName(subject: string): asn1X509.Name {
  const shown = subject.length > 40 ? `${subject.slice(0, 40)}...` : subject;
  const refuse = (why: string, cause?: unknown): never => {
    throw new ValidationError(`subject "${shown}" ${why}`, cause === undefined ? undefined : { cause });
  };
  if (subject.length > SUBJECT_MAX) return refuse(`is ${subject.length} characters long; a subject has at most ${SUBJECT_MAX}`);
  // RFC 4514's `#hex` form puts raw BER in the certificate (here an OCTET STRING as a CN): the
  // name parser takes it, but issuing from it fails (npm run fuzz, seed 6).
  if (HEX_VALUE.test(subject)) return refuse('has a value in #hex (BER) form: write the value as text (escape a leading # as \\#)');
  let name: x509.Name;
  try {
    name = new x509.Name(subject);
  } catch (error) {
    return refuse('is not a distinguished name like "CN=api,O=example" (known attribute types, in upper case: CN, O, OU, C, L, ST, DC, E, or a dotted OID)', error);
  }
  const attributes = name.toJSON();
  if (attributes.length === 0) return refuse('is not a distinguished name like "CN=api,O=example"');
  for (const attribute of attributes) {
    for (const [type, values] of Object.entries(attribute)) {
      if (values.some((value) => value.length === 0)) return refuse(`has an empty ${type} value`);
    }
  }
  return AsnConvert.parse(name.toArrayBuffer(), asn1X509.Name);
}

export function subjectProblem(subject: string): string | undefined {
  try {
    parseSubject(subject);
    return undefined;
  } catch (error) {
    if (error instanceof ValidationError) return error.message.replace(/^subject "[\s\S]*?" (?=is |has )/, '');
    throw error;
  }
}
