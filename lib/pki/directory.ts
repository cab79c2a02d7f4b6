import { X509Certificate, createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import type { Certificate } from './certificate.js';
import { parsePemBlocks, toPem } from './pem.js';

/** A stored CA generation of one authority. */
export interface KnownCa {
  generation: number;
  certificate: Certificate;
}

export type LeafProblemKind = 'unparsable' | 'key-mismatch' | 'untrusted-issuer';

/** What a scan learns from a leaf secret's `tls.crt` and `tls.key`. */
export interface LeafExamination {
  /** The stored CA generation whose key signed the leaf; undefined when none did. */
  generation: number | undefined;
  notAfter: number | undefined;
  serialHex: string | undefined;
  fingerprintSha256: string | undefined;
  problem: LeafProblemKind | undefined;
}

interface NodeCa {
  generation: number;
  subject: string;
  fingerprint: string;
  publicKey: KeyObject;
}

/** Directories kept per CA set, and examinations kept per directory: bounded, cleared when full. */
const SHARED = new Map<string, CaDirectory>();
const MAX_SHARED_DIRECTORIES = 64;
const MAX_REMEMBERED = 50_000;

/**
 * What an examination is remembered under: a digest of the leaf's certificate and key, not the
 * PEMs themselves (50,000 remembered leaves would otherwise keep 50,000 keys in memory).
 */
function examinationKey(certificatePem: string, privateKeyPem: string): string {
  return createHash('sha256').update(certificatePem).update('\n').update(privateKeyPem).digest('base64');
}

/** Stands, in the generations a bundle holds, for a certificate that is none of the known CAs. */
export const UNKNOWN_CA = -1;

/**
 * Answers, fast, the two questions a scan asks of every leaf secret: which CA generation issued
 * this leaf (and does its key match), and which generations does this bundle hold. It reads with
 * `node:crypto` (about 30x faster than a full @peculiar/x509 parse) and checks signatures, not
 * just names; bundles are parsed once per distinct content, since every leaf of an authority
 * carries the same one.
 */
export class CaDirectory {
  readonly #cas: NodeCa[];
  readonly #bundles = new Map<string, number[] | undefined>();
  readonly #leaves = new Map<string, LeafExamination>();

  /**
   * The directory for this set of CAs, shared by every tick in the process that sees the same
   * set: answers are pure functions of the content and the CAs, so a warm Lambda (or a
   * simulation) examines each leaf once, not once per tick.
   */
  static of(cas: readonly KnownCa[]): CaDirectory {
    const key = cas.map((ca) => `${ca.generation}:${ca.certificate.fingerprintSha256}`).sort().join(',');
    let directory = SHARED.get(key);
    if (directory === undefined) {
      if (SHARED.size >= MAX_SHARED_DIRECTORIES) SHARED.clear();
      directory = new CaDirectory(cas);
      directory.#inheritFromSubsets();
      SHARED.set(key, directory);
    }
    return directory;
  }

  /**
   * A new CA generation makes a new directory; the leaves a smaller set of these CAs examined
   * sound (issued by one of them, key matching) are still sound and from the same generation, so
   * the first tick after a CA is generated does not examine every leaf again.
   */
  #inheritFromSubsets(): void {
    const mine = new Map(this.#cas.map((ca) => [ca.generation, ca.fingerprint]));
    for (const other of SHARED.values()) {
      if (other === this || !other.#cas.every((ca) => mine.get(ca.generation) === ca.fingerprint)) continue;
      for (const [key, exam] of other.#leaves) {
        // Half the room at most, so the next examinations do not clear it at once.
        if (exam.problem === undefined && this.#leaves.size < MAX_REMEMBERED / 2) this.#leaves.set(key, exam);
      }
    }
  }

  constructor(cas: readonly KnownCa[]) {
    this.#cas = cas.map(({ generation, certificate }) => {
      const node = new X509Certificate(certificate.der);
      return { generation, subject: node.subject, fingerprint: node.fingerprint256, publicKey: node.publicKey };
    });
  }

  examineLeaf(certificatePem: string, privateKeyPem: string): LeafExamination {
    const key = examinationKey(certificatePem, privateKeyPem);
    let exam = this.#leaves.get(key);
    if (exam === undefined) {
      exam = this.#examine(certificatePem, privateKeyPem);
      if (this.#leaves.size >= MAX_REMEMBERED) this.#leaves.clear();
      this.#leaves.set(key, exam);
    }
    return exam;
  }

  /** Records what the caller knows of a leaf it just issued, so it is not examined again. */
  remember(certificatePem: string, privateKeyPem: string, examination: LeafExamination): void {
    if (this.#leaves.size >= MAX_REMEMBERED) this.#leaves.clear();
    this.#leaves.set(examinationKey(certificatePem, privateKeyPem), examination);
  }

  #examine(certificatePem: string, privateKeyPem: string): LeafExamination {
    let leaf: X509Certificate;
    let key: KeyObject;
    try {
      const [first] = parsePemBlocks(certificatePem);
      if (first === undefined || first.label !== 'CERTIFICATE') throw new Error('no certificate block');
      leaf = new X509Certificate(first.der);
      key = createPrivateKey(privateKeyPem);
    } catch {
      return { generation: undefined, notAfter: undefined, serialHex: undefined, fingerprintSha256: undefined, problem: 'unparsable' };
    }
    const facts = {
      notAfter: Date.parse(leaf.validTo),
      serialHex: leaf.serialNumber.toLowerCase(),
      fingerprintSha256: leaf.fingerprint256.replaceAll(':', '').toLowerCase(),
    };
    const issuer = this.#cas.find((ca) => ca.subject === leaf.issuer && leaf.verify(ca.publicKey));
    if (!leaf.checkPrivateKey(key)) return { generation: issuer?.generation, ...facts, problem: 'key-mismatch' };
    if (issuer === undefined) return { generation: undefined, ...facts, problem: 'untrusted-issuer' };
    return { generation: issuer.generation, ...facts, problem: undefined };
  }

  /**
   * A bundle another service handed back re-encoded (ELBv2's trust store bundle, an S3 object, ACM:
   * CRLF, other line wrapping, other whitespace, another order), in certrotate's one stored form:
   * its certificates (DER) each as 64-column PEM, generations ascending, as buildBundle writes them.
   * Undefined unless every block is a certificate that is a distinct CA of this directory: an extra
   * or foreign CA, a duplicate or garbage has no stored form (and so holds nothing exactly).
   * Expired CAs are kept: whether the set is the one certrotate would write now is the caller's check.
   */
  storedFormOf(bundlePem: string): string | undefined {
    let blocks: ReturnType<typeof parsePemBlocks>;
    try {
      blocks = parsePemBlocks(bundlePem);
    } catch {
      return undefined;
    }
    const members: Array<{ generation: number; der: Uint8Array }> = [];
    for (const block of blocks) {
      if (block.label !== 'CERTIFICATE') return undefined;
      let fingerprint: string;
      try {
        fingerprint = new X509Certificate(block.der).fingerprint256;
      } catch {
        return undefined;
      }
      const known = this.#cas.filter((ca) => ca.fingerprint === fingerprint);
      const generation = known[0]?.generation;
      if (known.length !== 1 || generation === undefined || members.some((member) => member.generation === generation)) return undefined;
      members.push({ generation, der: block.der });
    }
    return members
      .sort((a, b) => a.generation - b.generation)
      .map((member) => toPem(member.der, 'CERTIFICATE'))
      .join('');
  }

  /**
   * The stored generations a bundle holds, signer first as written; undefined when the bundle
   * cannot be read. A certificate that is no CA of this directory (added by hand, another
   * authority's, or a retired one) is UNKNOWN_CA: such a bundle holds no set of generations
   * exactly, so it is rewritten rather than trusted as it is.
   */
  generationsIn(bundlePem: string): number[] | undefined {
    if (this.#bundles.has(bundlePem)) return this.#bundles.get(bundlePem);
    if (this.#bundles.size >= MAX_REMEMBERED) this.#bundles.clear();
    let generations: number[] | undefined;
    try {
      generations = parsePemBlocks(bundlePem).flatMap((block) => {
        const fingerprint = new X509Certificate(block.der).fingerprint256;
        const known = this.#cas.filter((ca) => ca.fingerprint === fingerprint).map((ca) => ca.generation);
        return known.length > 0 ? known : [UNKNOWN_CA];
      });
    } catch {
      generations = undefined;
    }
    this.#bundles.set(bundlePem, generations);
    return generations;
  }
}
