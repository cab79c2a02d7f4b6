import { parseCertificates, type Certificate } from './certificate.js';
import { LruMap } from './lru.js';
import { verifyChain, type Purpose } from './verify.js';

export type ChainVerdict = { ok: true } | { ok: false; expired: boolean; reason: string };

/** A chain whose structure was checked against a bundle: why it fails, or the window in which it is valid. */
export type CheckedStructure = { failure: string } | { from: number; leafUntil: number; anchorUntil: number };

/**
 * Verifies a presented chain against a bundle at an instant, for callers that ask the same
 * question at many instants (a simulation's handshakes and daily checks). The structure (issuer,
 * signature, CA constraints, EKU) is checked once per distinct (chain, bundle, purpose), at the
 * leaf's own notBefore; the validity windows are then checked at every instant asked, so the
 * daily checks of a long run cost almost nothing while nothing changes.
 */
export class ChainCache {
  /**
   * Bounded: the least recently used entries go first. Each entry keeps its key's text (a chain
   * and a bundle, a few KB) and parsed certificates; at 20,000 entries the simulation's two
   * traffic threads held about 110 MB more in a 1,000-leaf run. A miss costs a parse (tens of
   * microseconds per certificate) and a signature check.
   */
  static readonly MAX_ENTRIES = 4_096;
  readonly #chains = new LruMap<string, CheckedStructure>(ChainCache.MAX_ENTRIES);
  readonly #bundles = new LruMap<string, Certificate[]>(ChainCache.MAX_ENTRIES);

  /** Bundles repeat across every leaf of an authority, and chains across bundles: parse each once. */
  #parsed(pem: string): Certificate[] {
    return this.#bundles.getOrSet(pem, () => parseCertificates(pem));
  }

  /** The structure of a chain against a bundle, checked once; judge it at any instant with `verdictAt`. */
  structure(chainPem: string, bundlePem: string, purpose: Purpose): CheckedStructure {
    return this.#chains.getOrSet(`${purpose}\n${chainPem}\n${bundlePem}`, () => {
      try {
        const chainCertificates = this.#parsed(chainPem);
        const start = chainCertificates[0]?.notBefore ?? 0;
        const { leaf, anchor } = verifyChain(chainCertificates, this.#parsed(bundlePem), start, { purpose });
        return { from: Math.max(leaf.notBefore, anchor.notBefore), leafUntil: leaf.notAfter, anchorUntil: anchor.notAfter };
      } catch (error) {
        return { failure: error instanceof Error ? error.message : String(error) };
      }
    });
  }

  verify(chainPem: string, bundlePem: string, purpose: Purpose, at: number): ChainVerdict {
    return verdictAt(this.structure(chainPem, bundlePem, purpose), at);
  }
}

/** The verdict on a checked structure at `at`: only the validity windows are looked at. */
export function verdictAt(chain: CheckedStructure, at: number): ChainVerdict {
  if ('failure' in chain) return { ok: false, expired: false, reason: chain.failure };
  if (at > chain.leafUntil) return { ok: false, expired: true, reason: `certificate expired at ${new Date(chain.leafUntil).toISOString()}` };
  if (at > chain.anchorUntil) return { ok: false, expired: true, reason: `issuing CA expired at ${new Date(chain.anchorUntil).toISOString()}` };
  if (at < chain.from) return { ok: false, expired: false, reason: `not valid until ${new Date(chain.from).toISOString()}` };
  return { ok: true };
}
