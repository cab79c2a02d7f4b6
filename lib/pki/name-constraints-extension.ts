/**
 * The NameConstraints extension (RFC 5280 4.2.1.10) as DER, both ways: written critical into a
 * new CA, and read back from a CA certificate so that an Issuer checks every leaf against the
 * constraints its own CA carries (not against a configuration that may have changed since).
 *
 * Written: `permittedSubtrees [0]` and `excludedSubtrees [1]`, each a SEQUENCE of GeneralSubtree
 * with only `base` (minimum 0 is the DEFAULT and is omitted, as DER requires; maximum absent):
 * dNSName `[2]` as the domain in lower case, iPAddress `[7]` as address then mask octets (8 for
 * IPv4, 32 for IPv6).
 */
import 'reflect-metadata';
import { OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { ValidationError } from '../errors.js';
import { formatIp, nameConstraintViolations, parseIpRange, prefixLength, type LeafNames, type NameConstraints, type NameSubtrees } from './name-constraints.js';

export const NAME_CONSTRAINTS_OID = asn1X509.id_ce_nameConstraints;

const TAG_DNS = 0x82;
const TAG_IP = 0x87;
const TAG_SEQUENCE = 0x30;
const TAG_PERMITTED = 0xa0;
const TAG_EXCLUDED = 0xa1;

function derLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return [0x80 | bytes.length, ...bytes];
}

function tlv(tag: number, body: readonly number[]): number[] {
  return [tag, ...derLength(body.length), ...body];
}

function subtrees(tag: number, trees: NameSubtrees | undefined): number[] {
  if (trees === undefined) return [];
  const dns = (trees.dnsDomains ?? []).map((domain) => tlv(TAG_SEQUENCE, tlv(TAG_DNS, [...Buffer.from(domain.toLowerCase(), 'ascii')])));
  const ip = (trees.ipRanges ?? []).map((range) => {
    const parsed = parseIpRange(range);
    return tlv(TAG_SEQUENCE, tlv(TAG_IP, [...parsed.address, ...parsed.mask]));
  });
  const all = [...dns, ...ip];
  return all.length === 0 ? [] : tlv(tag, all.flat());
}

/** The critical NameConstraints extension for a new CA. */
export function nameConstraintsExtension(constraints: NameConstraints): asn1X509.Extension {
  const value = tlv(TAG_SEQUENCE, [...subtrees(TAG_PERMITTED, constraints.permitted), ...subtrees(TAG_EXCLUDED, constraints.excluded)]);
  return new asn1X509.Extension({ extnID: NAME_CONSTRAINTS_OID, critical: true, extnValue: new OctetString(Uint8Array.from(value)) });
}

/** Reads one TLV at `offset`; undefined when it runs past the end. */
function readTlv(der: Uint8Array, offset: number): { tag: number; body: Uint8Array; end: number } | undefined {
  const tag = der[offset];
  let length = der[offset + 1];
  if (tag === undefined || length === undefined) return undefined;
  let start = offset + 2;
  if (length >= 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) return undefined;
    length = 0;
    for (let index = 0; index < count; index += 1) length = length * 256 + (der[start + index] ?? 0);
    start += count;
  }
  if (start + length > der.length) return undefined;
  return { tag, body: der.subarray(start, start + length), end: start + length };
}

function children(der: Uint8Array): Array<{ tag: number; body: Uint8Array }> {
  const items: Array<{ tag: number; body: Uint8Array }> = [];
  for (let offset = 0; offset < der.length; ) {
    const item = readTlv(der, offset);
    if (item === undefined) throw new ValidationError('NameConstraints extension does not decode');
    items.push(item);
    offset = item.end;
  }
  return items;
}

function readSubtrees(body: Uint8Array): NameSubtrees {
  const dnsDomains: string[] = [];
  const ipRanges: string[] = [];
  for (const subtree of children(body)) {
    const base = children(subtree.body)[0];
    if (base?.tag === TAG_DNS) dnsDomains.push(Buffer.from(base.body).toString('latin1'));
    const half = (base?.body.length ?? 0) / 2;
    if (base?.tag === TAG_IP && (half === 4 || half === 16)) {
      ipRanges.push(`${formatIp(base.body.subarray(0, half))}/${prefixLength(base.body.subarray(half))}`);
    }
    // Other name types (e-mail, URI, directory names) are not ours to check: leaves carry none of
    // them except URIs, and certrotate writes no URI constraint.
  }
  return { ...(dnsDomains.length > 0 ? { dnsDomains } : {}), ...(ipRanges.length > 0 ? { ipRanges } : {}) };
}

/** The name constraints a CA certificate carries, or undefined when it carries none. */
export function caNameConstraints(extensions: readonly asn1X509.Extension[] | undefined): NameConstraints | undefined {
  const extension = extensions?.find((candidate) => candidate.extnID === NAME_CONSTRAINTS_OID);
  if (extension === undefined) return undefined;
  const outer = readTlv(new Uint8Array(extension.extnValue.buffer), 0);
  if (outer?.tag !== TAG_SEQUENCE) throw new ValidationError('NameConstraints extension does not decode');
  const constraints: NameConstraints = {};
  for (const part of children(outer.body)) {
    if (part.tag === TAG_PERMITTED) constraints.permitted = readSubtrees(part.body);
    if (part.tag === TAG_EXCLUDED) constraints.excluded = readSubtrees(part.body);
  }
  return constraints;
}

/** Thrown when a leaf would carry a name its CA's constraints forbid: it is never signed. */
export class NameConstraintViolationError extends ValidationError {
  override name = 'NameConstraintViolationError';
}

/**
 * Refuses a leaf outside the constraints of the CA `caDescription` names. A changed configuration
 * takes effect at the next CA generation, so a leaf the configuration now allows may still be
 * outside the constraints of the CA in use: the message says so.
 */
export function assertLeafWithinNameConstraints(constraints: NameConstraints | undefined, leaf: LeafNames, caDescription: string): void {
  if (constraints === undefined) return;
  const violations = nameConstraintViolations(constraints, leaf);
  if (violations.length === 0) return;
  throw new NameConstraintViolationError(
    `leaf ${leaf.subject} is outside the name constraints of CA ${caDescription}: ${violations.map((violation) => violation.message).join('; ')}. ` +
      "A CA's name constraints are fixed when it is generated: a change to nameConstraints in the configuration takes effect at the authority's next CA generation",
  );
}
