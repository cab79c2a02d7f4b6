/**
 * Name constraints (RFC 5280 4.2.1.10): the names a CA may certify, written once and used twice —
 * by the configuration (a leaf outside its authority's constraints is refused with its path) and
 * by issuance (an Issuer never signs a leaf its own CA certificate forbids). Pure: no I/O.
 *
 * Semantics, chosen so that the stacks we test (OpenSSL 3.0, GnuTLS 3.7, Node) read the extension
 * alike, and certrotate refuses whatever the strictest of them would reject:
 * - A DNS domain `example.com` covers `example.com` and every name under it (`a.example.com`,
 *   `a.b.example.com`), never `badexample.com`. A leading dot is refused: RFC 5280 gives it no
 *   meaning for dNSName, OpenSSL and GnuTLS read `.example.com` as "subdomains only", others not.
 * - An IP range is CIDR (`10.0.0.0/8`, `fd00::/8`), written as address and mask octets. An
 *   address matches only a range of its own family (`::ffff:10.0.0.1` is IPv6, not in 10.0.0.0/8).
 * - A name type with no permitted subtree is unconstrained; with some, every name of that type
 *   must be inside one; no name may be inside an excluded subtree. URIs are never constrained here.
 * - A wildcard `*.example.com` is read as the literal name for permitted subtrees (as OpenSSL and
 *   GnuTLS do), and refused when an excluded subtree is one label below it (it could stand for it;
 *   stricter than both, which read it literally there too).
 * - The subject CN counts as a DNS name when the leaf has no DNS SAN and either it is a server
 *   (GnuTLS then checks any CN, `system:node:a` too) or the CN looks like a host name with a dot
 *   (OpenSSL checks those, for any purpose). Give server leaves a DNS name inside the constraints.
 */
import 'reflect-metadata';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { dnsNameProblem } from './names.js';

export interface NameSubtrees {
  /** DNS domains: each covers itself and every name under it. */
  dnsDomains?: readonly string[];
  /** CIDR ranges, IPv4 or IPv6, with no bits set past the prefix. */
  ipRanges?: readonly string[];
}

export interface NameConstraints {
  permitted?: NameSubtrees;
  excluded?: NameSubtrees;
}

/** The names of a leaf that name constraints judge. */
export interface LeafNames {
  subject: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  usage: 'server' | 'client' | 'both';
}

export function dnsDomainProblem(domain: string): string | undefined {
  if (domain.startsWith('.')) {
    return 'starts with a dot: write the domain itself ("example.com" covers example.com and every name under it); stacks disagree on what a leading dot means';
  }
  if (domain.includes('*')) return 'is a wildcard: a domain already covers every name under it';
  return dnsNameProblem(domain);
}

/** An IP address as 4 or 16 bytes, or undefined when it is not one. */
export function ipAddressBytes(address: string): Uint8Array | undefined {
  const family = isIP(address);
  if (family === 4) return Uint8Array.from(address.split('.').map(Number));
  if (family !== 6) return undefined;
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = v4[1].split('.').map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left = '', right] = text.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const head = groups(left);
  const tail = right === undefined ? [] : groups(right);
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  return Uint8Array.from(all.flatMap((group) => [group >> 8, group & 0xff]));
}

export interface IpRange {
  address: Uint8Array;
  mask: Uint8Array;
}

function maskOf(length: number, prefix: number): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => {
    const bits = Math.min(8, Math.max(0, prefix - index * 8));
    return (0xff << (8 - bits)) & 0xff;
  });
}

/** Parses `10.0.0.0/8`; throws RangeError with the reason when it is not a clean CIDR range. */
export function parseIpRange(range: string): IpRange {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(range);
  const address = match?.[1] === undefined ? undefined : ipAddressBytes(match[1]);
  if (match === null || address === undefined || match[1]?.includes('%') === true) {
    throw new RangeError('is not a CIDR range like "10.0.0.0/8" or "fd00::/8"');
  }
  const prefix = Number(match[2]);
  if (prefix > address.length * 8) throw new RangeError(`has a prefix longer than /${address.length * 8}`);
  const mask = maskOf(address.length, prefix);
  if (address.some((byte, index) => (byte & ~(mask[index] ?? 0) & 0xff) !== 0)) {
    const base = address.map((byte, index) => byte & (mask[index] ?? 0));
    throw new RangeError(`has bits set past /${prefix}: write ${JSON.stringify(`${formatIp(base)}/${prefix}`)}`);
  }
  return { address, mask };
}

export function ipRangeProblem(range: string): string | undefined {
  try {
    parseIpRange(range);
    return undefined;
  } catch (error) {
    if (error instanceof RangeError) return error.message;
    throw error;
  }
}

export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, index) => (((bytes[2 * index] ?? 0) << 8) | (bytes[2 * index + 1] ?? 0)).toString(16));
  // The WHATWG URL parser writes IPv6 hosts in RFC 5952's compressed form.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** The prefix length of a mask (the count of its leading one bits). */
export function prefixLength(mask: Uint8Array): number {
  let bits = 0;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0 && (byte >> bit) & 1; bit -= 1) bits += 1;
    if (byte !== 0xff) break;
  }
  return bits;
}

/** True when `name` is `domain` or a name under it (case-insensitive; `*` counts as a label). */
export function dnsNameWithin(name: string, domain: string): boolean {
  const n = name.toLowerCase();
  const d = domain.toLowerCase();
  return n === d || n.endsWith(`.${d}`);
}

/** True when `address` (4 or 16 bytes) is inside the range (same family only). */
export function ipWithin(address: Uint8Array, range: IpRange): boolean {
  if (address.length !== range.address.length) return false;
  return address.every((byte, index) => (byte & (range.mask[index] ?? 0)) === (range.address[index] ?? 0));
}

/** True when the whole of `inner` lies inside `outer`. */
export function rangeWithin(inner: IpRange, outer: IpRange): boolean {
  return prefixLength(inner.mask) >= prefixLength(outer.mask) && ipWithin(inner.address, outer);
}

/** Could the DNS name (a wildcard too) stand for a name inside the excluded domain? */
function dnsNameHitsExcluded(name: string, domain: string): boolean {
  if (dnsNameWithin(name, domain)) return true;
  if (!name.startsWith('*.')) return false;
  const parent = name.slice(2).toLowerCase();
  const excluded = domain.toLowerCase();
  const dot = excluded.indexOf('.');
  return dot > 0 && excluded.slice(dot + 1) === parent;
}

/**
 * The CN values a verifier checks as DNS names, in order: none when the leaf has a DNS SAN; for
 * a server (GnuTLS checks the CN of a TLS server certificate without a DNS SAN, whatever it
 * looks like) every CN; for a client only a CN shaped like a host name with a dot (OpenSSL's rule).
 */
export function commonNamesCheckedAsDns(leaf: LeafNames): string[] {
  if ((leaf.dnsNames ?? []).length > 0) return [];
  let commonNames: string[];
  try {
    commonNames = new x509.Name(leaf.subject).getField('CN');
  } catch {
    return [];
  }
  if (leaf.usage !== 'client') return commonNames;
  return commonNames.filter((cn) => cn.includes('.') && !cn.startsWith('*') && dnsNameProblem(cn) === undefined);
}

function dnsViolation(name: string, what: string, constraints: NameConstraints): string | undefined {
  const permitted = constraints.permitted?.dnsDomains ?? [];
  if (permitted.length > 0 && !permitted.some((domain) => dnsNameWithin(name, domain))) {
    return `${what} ${JSON.stringify(name)} is outside the permitted DNS domains (${permitted.join(', ')})`;
  }
  const excluded = (constraints.excluded?.dnsDomains ?? []).find((domain) => dnsNameHitsExcluded(name, domain));
  if (excluded !== undefined) return `${what} ${JSON.stringify(name)} is inside the excluded DNS domain ${JSON.stringify(excluded)}`;
  return undefined;
}

function ipViolation(address: string, constraints: NameConstraints): string | undefined {
  const bytes = ipAddressBytes(address);
  if (bytes === undefined) return undefined;
  const permitted = constraints.permitted?.ipRanges ?? [];
  if (permitted.length > 0 && !permitted.some((range) => ipWithin(bytes, parseIpRange(range)))) {
    return `IP address ${JSON.stringify(address)} is outside the permitted IP ranges (${permitted.join(', ')})`;
  }
  const excluded = (constraints.excluded?.ipRanges ?? []).find((range) => ipWithin(bytes, parseIpRange(range)));
  if (excluded !== undefined) return `IP address ${JSON.stringify(address)} is inside the excluded IP range ${excluded}`;
  return undefined;
}

/** One name of a leaf outside its CA's constraints: which field, which entry, and why. */
export interface NameConstraintViolation {
  field: 'dnsNames' | 'ipAddresses' | 'subject';
  index: number;
  message: string;
}

/**
 * Every name of the leaf its CA's constraints forbid (empty when the leaf is inside them). Names
 * are assumed valid (names.ts checks those).
 */
export function nameConstraintViolations(constraints: NameConstraints, leaf: LeafNames): NameConstraintViolation[] {
  const violations: Array<NameConstraintViolation | undefined> = [];
  const found = (field: NameConstraintViolation['field'], index: number, message: string | undefined) =>
    message === undefined ? undefined : { field, index, message };
  for (const [index, name] of (leaf.dnsNames ?? []).entries()) violations.push(found('dnsNames', index, dnsViolation(name, 'DNS name', constraints)));
  for (const cn of commonNamesCheckedAsDns(leaf)) {
    const what = leaf.usage === 'client' ? 'subject CN (OpenSSL checks a CN like a host name when there is no DNS name)' : 'subject CN (GnuTLS checks a server\'s CN when it has no DNS name)';
    violations.push(found('subject', 0, dnsViolation(cn, what, constraints)));
  }
  for (const [index, address] of (leaf.ipAddresses ?? []).entries()) violations.push(found('ipAddresses', index, ipViolation(address, constraints)));
  return violations.filter((violation) => violation !== undefined);
}

/**
 * Why a set of constraints is unusable, as (path suffix, message) pairs: nothing in it, or a
 * permitted subtree that lies wholly inside an excluded one (it permits nothing).
 */
export function nameConstraintsProblems(constraints: NameConstraints): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  const count = (subtrees?: NameSubtrees) => (subtrees?.dnsDomains?.length ?? 0) + (subtrees?.ipRanges?.length ?? 0);
  if (count(constraints.permitted) + count(constraints.excluded) === 0) {
    problems.push({ path: '', message: 'constrains nothing: give permitted or excluded DNS domains or IP ranges, or leave nameConstraints out' });
  }
  const excludedDns = constraints.excluded?.dnsDomains ?? [];
  for (const [index, domain] of (constraints.permitted?.dnsDomains ?? []).entries()) {
    const cover = excludedDns.find((excluded) => dnsNameWithin(domain, excluded));
    if (cover !== undefined) {
      problems.push({ path: `.permitted.dnsDomains[${index}]`, message: `${JSON.stringify(domain)} lies inside excluded ${JSON.stringify(cover)}: it permits nothing` });
    }
  }
  const excludedIp = (constraints.excluded?.ipRanges ?? []).map((range) => ({ range, parsed: parseIpRange(range) }));
  for (const [index, range] of (constraints.permitted?.ipRanges ?? []).entries()) {
    const cover = excludedIp.find((excluded) => rangeWithin(parseIpRange(range), excluded.parsed));
    if (cover !== undefined) {
      problems.push({ path: `.permitted.ipRanges[${index}]`, message: `${range} lies inside excluded ${cover.range}: it permits nothing` });
    }
  }
  return problems;
}
