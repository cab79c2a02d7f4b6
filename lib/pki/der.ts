/**
 * The few DER encodings certificate issuance writes by hand: the TBSCertificate's frame, its
 * times and the subject key's bits. Issuing through the ASN.1 schema library cost a parse of the
 * SubjectPublicKeyInfo just exported and a schema walk of the whole TBSCertificate per leaf, most
 * of issuing's CPU after the signature; test/pki/der.test.ts checks these bytes against it.
 */

export function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One TLV: `tag`, the length of the parts together, then the parts. */
export function derTlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts);
  return Buffer.concat([Uint8Array.of(tag), derLength(body.length), body]);
}

export function derSequence(...parts: Uint8Array[]): Uint8Array {
  return derTlv(0x30, ...parts);
}

const pad = (value: number, width: number): string => String(value).padStart(width, '0');

/**
 * RFC 5280 4.1.2.5: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime (YYYYMMDDHHMMSSZ) from
 * 2050, whole seconds (milliseconds dropped), always UTC.
 */
export function derTime(epochMs: number): Uint8Array {
  const date = new Date(Math.floor(epochMs / 1000) * 1000);
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError(`a certificate time must fall in 1950-9999, got ${date.toISOString()}`);
  const rest = pad(date.getUTCMonth() + 1, 2) + pad(date.getUTCDate(), 2) + pad(date.getUTCHours(), 2) + pad(date.getUTCMinutes(), 2) + pad(date.getUTCSeconds(), 2) + 'Z';
  return year < 2050 ? derTlv(0x17, Buffer.from(pad(year % 100, 2) + rest, 'latin1')) : derTlv(0x18, Buffer.from(pad(year, 4) + rest, 'latin1'));
}

/** The tag's content: [start, end) within `der`, after the header at `offset`. */
function readTlv(der: Uint8Array, offset: number): { tag: number; start: number; end: number } {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw new RangeError('DER ends inside a header');
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw new RangeError('DER length is indefinite or too long');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (der[start + i] ?? 0);
    start += count;
  }
  if (start + length > der.length) throw new RangeError('DER length runs past its data');
  return { tag, start, end: start + length };
}

/**
 * The subjectPublicKey bits of a DER SubjectPublicKeyInfo (SEQUENCE { AlgorithmIdentifier,
 * BIT STRING }), without the BIT STRING's unused-bits byte: what RFC 5280's key identifier hashes.
 */
export function subjectPublicKeyBits(spkiDer: Uint8Array): Uint8Array {
  const outer = readTlv(spkiDer, 0);
  const algorithm = readTlv(spkiDer, outer.start);
  const bits = readTlv(spkiDer, algorithm.end);
  if (outer.tag !== 0x30 || algorithm.tag !== 0x30 || bits.tag !== 0x03 || bits.end !== outer.end || bits.end <= bits.start) {
    throw new RangeError('not a DER SubjectPublicKeyInfo');
  }
  return spkiDer.subarray(bits.start + 1, bits.end);
}
