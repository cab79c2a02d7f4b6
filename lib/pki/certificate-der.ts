/**
 * Reads the fields certrotate uses straight from a certificate's DER, without the ASN.1 schema
 * library: its parse of a whole certificate took about a millisecond, which the simulation's
 * traffic threads paid for every chain they checked and a scan for every leaf it read. Only the
 * plain shapes RFC 5280 and certrotate's own issuance produce are read here; anything else
 * (another length form, a time with fractions, a name form the schema renders differently,
 * trailing bytes, more than 16 KiB) returns undefined so that certificate.ts falls back to the
 * schema parse, which keeps its readings and its refusals. test/pki/certificate-der.test.ts
 * compares the two.
 */

export interface SubjectAltNames {
  dns: string[];
  ip: string[];
  uri: string[];
}

/** The fields certrotate reads. Names stay DER here: most reads never need their text. */
export interface CertificateFields {
  subjectDer: Uint8Array;
  issuerDer: Uint8Array;
  serialHex: string;
  notBefore: number;
  notAfter: number;
  subjectKeyId: string | undefined;
  authorityKeyId: string | undefined;
  isCa: boolean;
  pathLength: number | undefined;
  keyUsage: number | undefined;
  extendedKeyUsage: string[] | undefined;
  subjectAltNames: SubjectAltNames;
  spkiDer: Uint8Array;
}

/**
 * The fields outside the extensions, with every extension's field at its value when absent:
 * both readers fill them in from there. The serial is its INTEGER's content bytes.
 */
export function fieldsBeforeExtensions(core: { subjectDer: Uint8Array; issuerDer: Uint8Array; serial: Uint8Array; notBefore: number; notAfter: number; spkiDer: Uint8Array }): CertificateFields {
  const { serial, ...rest } = core;
  return {
    ...rest,
    serialHex: hexOf(serial, 0, serial.length).replace(/^(00)+(?=.)/, ''),
    subjectKeyId: undefined,
    authorityKeyId: undefined,
    isCa: false,
    pathLength: undefined,
    keyUsage: undefined,
    extendedKeyUsage: undefined,
    subjectAltNames: { dns: [], ip: [], uri: [] },
  };
}

/** The largest certificate read here: see readPlainCertificate. Real ones are a few KB. */
export const SCHEMA_NODE_LIMIT_SAFE_BYTES = 16_384;

const SEQUENCE = 0x30;
const SET = 0x31;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const OID = 0x06;
const BOOLEAN = 0x01;
const NULL = 0x05;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;

/** Thrown inside this module only: the input is not in the plain shape read here. */
class Unusual extends Error {}

interface Tlv {
  tag: number;
  /** Where the header starts. */
  offset: number;
  /** The content: [start, end). */
  start: number;
  end: number;
}

/** One TLV at `offset`, definite minimal lengths only, within `limit`. */
function tlvAt(der: Uint8Array, offset: number, limit: number): Tlv {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined || offset + 2 > limit || (tag & 0x1f) === 0x1f) throw new Unusual();
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 3 || start + count > limit) throw new Unusual();
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[start + i] as number);
    // DER: the long form only where the short one cannot say it, without leading zero bytes.
    if (length < 0x80 || der[start] === 0) throw new Unusual();
    start += count;
  }
  if (start + length > limit) throw new Unusual();
  return { tag, offset, start, end: start + length };
}

/** The TLVs inside [start, end), in order. */
class Cursor {
  #at: number;
  constructor(
    private readonly der: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.#at = start;
  }
  get done(): boolean {
    return this.#at >= this.end;
  }
  peekTag(): number | undefined {
    return this.done ? undefined : this.der[this.#at];
  }
  next(tag?: number): Tlv {
    if (this.done) throw new Unusual();
    const tlv = tlvAt(this.der, this.#at, this.end);
    if (tag !== undefined && tlv.tag !== tag) throw new Unusual();
    this.#at = tlv.end;
    return tlv;
  }
  /** Nothing may follow what was read. */
  finish(): void {
    if (!this.done) throw new Unusual();
  }
}

function inside(der: Uint8Array, tlv: Tlv): Cursor {
  return new Cursor(der, tlv.start, tlv.end);
}

function hexOf(der: Uint8Array, start: number, end: number): string {
  return Buffer.from(der.buffer, der.byteOffset + start, end - start).toString('hex');
}

/** Dotted text of an OBJECT IDENTIFIER's content, minimal base-128 arcs only. */
function oidText(der: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== OID || tlv.end === tlv.start) throw new Unusual();
  const arcs: number[] = [];
  let value = 0;
  let fresh = true;
  for (let i = tlv.start; i < tlv.end; i++) {
    const byte = der[i] as number;
    if (fresh && byte === 0x80) throw new Unusual();
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new Unusual();
    fresh = (byte & 0x80) === 0;
    if (fresh) {
      arcs.push(value);
      value = 0;
    }
  }
  if (!fresh) throw new Unusual();
  const [first = 0, ...rest] = arcs;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...rest].join('.');
}

/**
 * AlgorithmIdentifier: SEQUENCE { OID, parameters }, with no parameters, NULL (RSA) or a curve's
 * OID (EC). Other parameters (RSA-PSS's) go to the schema, which parses them through.
 */
function readAlgorithm(der: Uint8Array, cursor: Cursor): void {
  const algorithm = inside(der, cursor.next(SEQUENCE));
  oidText(der, algorithm.next());
  if (!algorithm.done) {
    const parameters = algorithm.next();
    if (parameters.tag === NULL) {
      if (parameters.end !== parameters.start) throw new Unusual();
    } else oidText(der, parameters);
  }
  algorithm.finish();
}

/** Name: SEQUENCE OF SET OF SEQUENCE { OID, value }, returned as its whole DER. */
function readName(der: Uint8Array, cursor: Cursor): Uint8Array {
  const name = cursor.next(SEQUENCE);
  const rdns = inside(der, name);
  while (!rdns.done) {
    const attributes = inside(der, rdns.next(SET));
    if (attributes.done) throw new Unusual();
    while (!attributes.done) {
      const attribute = inside(der, attributes.next(SEQUENCE));
      oidText(der, attribute.next());
      const value = attribute.next();
      // The schema renders strings of these tags; others (and constructed values) go its way.
      if (![0x0c, 0x13, 0x14, 0x16].includes(value.tag)) throw new Unusual();
      attribute.finish();
    }
  }
  return der.subarray(name.offset, name.end);
}

const digits = (der: Uint8Array, start: number, count: number): number => {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const byte = der[i] as number;
    if (byte < 0x30 || byte > 0x39) throw new Unusual();
    value = value * 10 + (byte - 0x30);
  }
  return value;
};

/** RFC 5280 4.1.2.5 times only: UTCTime YYMMDDHHMMSSZ, GeneralizedTime YYYYMMDDHHMMSSZ. */
function readTime(der: Uint8Array, tlv: Tlv): number {
  const utc = tlv.tag === UTC_TIME;
  const length = utc ? 13 : 15;
  if ((!utc && tlv.tag !== GENERALIZED_TIME) || tlv.end - tlv.start !== length || der[tlv.end - 1] !== 0x5a) throw new Unusual();
  let at = tlv.start;
  let year: number;
  if (utc) {
    const short = digits(der, at, 2);
    year = short < 50 ? 2000 + short : 1900 + short;
    at += 2;
  } else {
    year = digits(der, at, 4);
    // Date.UTC reads years 0-99 as 1900-1999.
    if (year < 1000) throw new Unusual();
    at += 4;
  }
  const [month, day, hour, minute, second] = [0, 2, 4, 6, 8].map((skip) => digits(der, at + skip, 2)) as [number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) throw new Unusual();
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // A day past its month's end (31 April) rolls over in Date.UTC: leave it to the schema.
  if (new Date(ms).getUTCDate() !== day) throw new Unusual();
  return ms;
}

/** BOOLEAN in DER: one byte, 00 or FF. */
function readBoolean(der: Uint8Array, tlv: Tlv): boolean {
  const byte = der[tlv.start];
  if (tlv.tag !== BOOLEAN || tlv.end - tlv.start !== 1 || (byte !== 0 && byte !== 0xff)) throw new Unusual();
  return byte === 0xff;
}

/** A small non-negative INTEGER, minimally encoded. */
function readSmallInteger(der: Uint8Array, tlv: Tlv): number {
  const length = tlv.end - tlv.start;
  const first = der[tlv.start] as number;
  if (tlv.tag !== INTEGER || length === 0 || length > 4 || first & 0x80 || (length > 1 && first === 0 && ((der[tlv.start + 1] as number) & 0x80) === 0)) throw new Unusual();
  let value = 0;
  for (let i = tlv.start; i < tlv.end; i++) value = value * 256 + (der[i] as number);
  return value;
}

/** A BIT STRING: its unused-bits byte, then the bits. */
function readBitString(der: Uint8Array, tlv: Tlv): void {
  const unused = der[tlv.start];
  if (tlv.tag !== BIT_STRING || unused === undefined || tlv.end === tlv.start || unused > 7 || (unused > 0 && tlv.end - tlv.start === 1)) throw new Unusual();
}

/** Keys and signatures are whole bytes; the schema would write the key back without other counts. */
function readWholeBytes(der: Uint8Array, tlv: Tlv): void {
  readBitString(der, tlv);
  if (der[tlv.start] !== 0) throw new Unusual();
}

/** keyUsage's BIT STRING as @peculiar's KeyUsageFlags number: bit n of the string is 2^n. */
function readKeyUsage(der: Uint8Array, tlv: Tlv): number {
  readBitString(der, tlv);
  const length = tlv.end - tlv.start;
  const unused = der[tlv.start] as number;
  if (length < 2 || length > 3) throw new Unusual();
  let value = 0;
  for (let byte = 0; byte < length - 1; byte++) {
    const octet = der[tlv.start + 1 + byte] as number;
    for (let bit = 0; bit < 8; bit++) if (octet & (0x80 >> bit)) value |= 1 << (byte * 8 + bit);
  }
  // The schema's toNumber drops the string's last `unused` bits, set or not.
  const bits = (length - 1) * 8 - unused;
  return value & ((1 << bits) - 1);
}

/** The extension's id when it is one certrotate reads (2.5.29.x, given by its last byte). */
function knownExtension(der: Uint8Array, tlv: Tlv): number | undefined {
  if (tlv.tag !== OID) throw new Unusual();
  oidText(der, tlv);
  if (tlv.end - tlv.start !== 3 || der[tlv.start] !== 0x55 || der[tlv.start + 1] !== 0x1d) return undefined;
  return der[tlv.start + 2];
}

const SUBJECT_KEY_ID = 14;
const KEY_USAGE = 15;
const SUBJECT_ALT_NAME = 17;
const BASIC_CONSTRAINTS = 19;
const AUTHORITY_KEY_ID = 35;
const EXTENDED_KEY_USAGE = 37;

function readExtension(der: Uint8Array, id: number, value: Tlv, fields: CertificateFields): void {
  const outer = new Cursor(der, value.start, value.end);
  const body = outer.next();
  outer.finish();
  switch (id) {
    case SUBJECT_KEY_ID:
      if (body.tag !== OCTET_STRING) throw new Unusual();
      fields.subjectKeyId = hexOf(der, body.start, body.end);
      return;
    case AUTHORITY_KEY_ID: {
      if (body.tag !== SEQUENCE) throw new Unusual();
      const parts = inside(der, body);
      let keyId: string | undefined;
      if (parts.peekTag() === 0x80) {
        const id = parts.next();
        keyId = hexOf(der, id.start, id.end);
      }
      // authorityCertIssuer and serial are left to the schema, which checks their shapes.
      parts.finish();
      fields.authorityKeyId = keyId;
      return;
    }
    case BASIC_CONSTRAINTS: {
      if (body.tag !== SEQUENCE) throw new Unusual();
      const parts = inside(der, body);
      fields.isCa = parts.peekTag() === BOOLEAN ? readBoolean(der, parts.next()) : false;
      fields.pathLength = parts.done ? undefined : readSmallInteger(der, parts.next());
      parts.finish();
      return;
    }
    case KEY_USAGE:
      fields.keyUsage = readKeyUsage(der, body);
      return;
    case EXTENDED_KEY_USAGE: {
      if (body.tag !== SEQUENCE) throw new Unusual();
      const purposes: string[] = [];
      for (const parts = inside(der, body); !parts.done; ) purposes.push(oidText(der, parts.next()));
      fields.extendedKeyUsage = purposes;
      return;
    }
    case SUBJECT_ALT_NAME: {
      if (body.tag !== SEQUENCE) throw new Unusual();
      for (const names = inside(der, body); !names.done; ) {
        const name = names.next();
        if (name.tag === 0x82) fields.subjectAltNames.dns.push(Buffer.from(der.buffer, der.byteOffset + name.start, name.end - name.start).toString('latin1'));
        else if (name.tag === 0x86) fields.subjectAltNames.uri.push(Buffer.from(der.buffer, der.byteOffset + name.start, name.end - name.start).toString('latin1'));
        else if (name.tag === 0x87 && name.end - name.start === 4) fields.subjectAltNames.ip.push(Array.from(der.subarray(name.start, name.end)).join('.'));
        // IPv6 and the other forms are rendered, or checked, by the schema.
        else throw new Unusual();
      }
      return;
    }
  }
}

function readExtensions(der: Uint8Array, tlv: Tlv, fields: CertificateFields): void {
  const wrapper = inside(der, tlv);
  const list = wrapper.next(SEQUENCE);
  wrapper.finish();
  for (const extensions = inside(der, list); !extensions.done; ) {
    const extension = inside(der, extensions.next(SEQUENCE));
    const id = knownExtension(der, extension.next());
    if (extension.peekTag() === BOOLEAN) readBoolean(der, extension.next());
    const value = extension.next(OCTET_STRING);
    extension.finish();
    if (id !== undefined) readExtension(der, id, value, fields);
  }
}

function readTbs(der: Uint8Array, tbs: Cursor): CertificateFields {
  if (tbs.peekTag() === 0xa0) {
    const version = inside(der, tbs.next());
    readSmallInteger(der, version.next());
    version.finish();
  }
  const serial = tbs.next(INTEGER);
  if (serial.end === serial.start) throw new Unusual();
  readAlgorithm(der, tbs);
  const issuerDer = readName(der, tbs);
  const validity = inside(der, tbs.next(SEQUENCE));
  const notBefore = readTime(der, validity.next());
  const notAfter = readTime(der, validity.next());
  validity.finish();
  const subjectDer = readName(der, tbs);
  const spki = tbs.next(SEQUENCE);
  const spkiParts = inside(der, spki);
  readAlgorithm(der, spkiParts);
  readWholeBytes(der, spkiParts.next());
  spkiParts.finish();
  const fields = fieldsBeforeExtensions({
    subjectDer,
    issuerDer,
    serial: der.subarray(serial.start, serial.end),
    notBefore,
    notAfter,
    spkiDer: der.subarray(spki.offset, spki.end),
  });
  if (tbs.peekTag() === 0xa3) readExtensions(der, tbs.next(), fields);
  // Unique identifiers ([1], [2]) and anything after the extensions are left to the schema.
  tbs.finish();
  return fields;
}

/**
 * The fields of a DER certificate in the plain shape, or undefined for anything else (which the
 * caller reads, or refuses, through the ASN.1 schema).
 */
export function readPlainCertificate(der: Uint8Array): CertificateFields | undefined {
  // asn1js refuses a parse of more than 10,000 nodes (DEFAULT_MAX_NODES), counting what it finds
  // inside OCTET and BIT STRINGs too; each node takes at least two bytes of its own, so nothing
  // this size can reach it, and a larger certificate is left to the schema to read or refuse.
  if (der.length > SCHEMA_NODE_LIMIT_SAFE_BYTES) return undefined;
  try {
    const whole = new Cursor(der, 0, der.length);
    const certificate = inside(der, whole.next(SEQUENCE));
    whole.finish();
    const fields = readTbs(der, inside(der, certificate.next(SEQUENCE)));
    readAlgorithm(der, certificate);
    readWholeBytes(der, certificate.next());
    certificate.finish();
    return fields;
  } catch (error) {
    if (error instanceof Unusual) return undefined;
    throw error;
  }
}
