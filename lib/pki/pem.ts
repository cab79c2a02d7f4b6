import { InvalidPemError } from './errors.js';

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Splits text into its PEM blocks. Tolerates CRLF and any text between blocks (as `openssl x509
 * -text` writes); refuses a block with no END line, a mismatched END label, or bad base64.
 */
export function parsePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BEGIN)) {
    const label = match[1] ?? '';
    const bodyStart = match.index + match[0].length;
    const endMarker = `-----END ${label}-----`;
    const bodyEnd = text.indexOf(endMarker, bodyStart);
    const nextBegin = text.indexOf('-----BEGIN ', bodyStart);
    if (bodyEnd < 0 || (nextBegin >= 0 && nextBegin < bodyEnd)) {
      throw new InvalidPemError(
        `PEM block ${blocks.length + 1} (${label}) has no matching END line: the PEM is truncated; copy it again in full`,
      );
    }
    const body = text.slice(bodyStart, bodyEnd).replace(/\s+/g, '');
    if (body.length === 0 || body.length % 4 !== 0 || !BASE64_BODY.test(body)) {
      throw new InvalidPemError(
        `PEM block ${blocks.length + 1} (${label}) is not valid base64: the PEM was corrupted in transit; copy it again`,
      );
    }
    blocks.push({ label, der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
  if (blocks.length === 0) {
    throw new InvalidPemError(
      text.trim().length === 0
        ? 'expected PEM but got an empty value'
        : 'expected PEM but found no "-----BEGIN ...-----" line',
    );
  }
  return blocks;
}

/** DER to PEM with 64-character lines, as OpenSSL writes it. */
export function toPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
