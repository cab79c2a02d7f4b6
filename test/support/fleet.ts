import { parseConfig, type CertrotateConfig } from '../../lib/config/index.js';
import type { LocalEnvironment } from '../../lib/local/environment.js';
import { CaDirectory, parseCertificate, verifyChain } from '../../lib/pki/index.js';

/** A configuration with one authority and `leaves` leaves of mixed usage and lifetime. */
export function fleetConfig(options: { authority?: string; leaves: number; caLifetimeDays?: number; soakHours?: number; caKeyStore?: 'kms' | 'secret'; leafStore?: 'secretsmanager' | 's3' }): CertrotateConfig {
  const authority = options.authority ?? 'cluster';
  const usages = ['server', 'client', 'both'] as const;
  const lifetimes = [7, 14, 30];
  return parseConfig({
    authorities: [
      {
        name: authority,
        caLifetimeDays: options.caLifetimeDays ?? 180,
        rotationLeadDays: 30,
        soakHours: { trustExpanded: options.soakHours ?? 2, leavesMigrated: options.soakHours ?? 2 },
        ...(options.caKeyStore === undefined ? {} : { caKeyStore: options.caKeyStore }),
        ...(options.leafStore === undefined ? {} : { leafStore: options.leafStore }),
      },
    ],
    leaves: Array.from({ length: options.leaves }, (_, index) => ({
      authority,
      id: `svc-${index}`,
      subject: `CN=svc-${index}`,
      dnsNames: [`svc-${index}.${authority}.local`],
      usage: usages[index % usages.length],
      lifetimeDays: lifetimes[index % lifetimes.length],
    })),
  });
}

/**
 * The zero-downtime invariant, checked with lib/pki at `now`: every leaf in the field verifies
 * against the bundle every other leaf (each a consumer) holds, and against the bundle secret (what
 * every other reader of the authority's trust holds). Results are cached by content, so checking
 * after every tick stays cheap. Returns the failures, empty when the invariant holds.
 */
export function invariantChecker(env: LocalEnvironment, config: CertrotateConfig) {
  /** Chain structure and signatures per (leaf, bundle), checked once; validity windows per instant. */
  const chains = new Map<string, { failure: string } | { from: number; until: number }>();
  return async (authority: string, now: number): Promise<string[]> => {
    const ids = config.leaves.filter((leaf) => leaf.authority === authority).map((leaf) => leaf.id);
    const { leaves } = await env.certificates.readLeaves(authority, ids);
    const published = await env.certificates.readBundle(authority);
    const bundles = [...new Set([...leaves.map((leaf) => leaf.bundlePem), ...(published === undefined ? [] : [published])])];
    const failures: string[] = [];
    for (const leaf of leaves) {
      for (const bundle of bundles) {
        const key = `${leaf.certificatePem}\n${bundle}`;
        let chain = chains.get(key);
        if (chain === undefined) {
          try {
            const verified = verifyChain(leaf.certificatePem, bundle, parseCertificate(leaf.certificatePem).notBefore);
            chain = {
              from: Math.max(verified.leaf.notBefore, verified.anchor.notBefore),
              until: Math.min(verified.leaf.notAfter, verified.anchor.notAfter),
            };
          } catch (error) {
            chain = { failure: error instanceof Error ? error.message : String(error) };
          }
          chains.set(key, chain);
        }
        if ('failure' in chain) failures.push(`${leaf.id}: ${chain.failure}`);
        else if (now < chain.from || now > chain.until) failures.push(`${leaf.id}: not valid at ${new Date(now).toISOString()}`);
      }
    }
    return failures;
  };
}

/** The issuing generation of every leaf of an authority, by id. */
export async function leafGenerations(env: LocalEnvironment, config: CertrotateConfig, authority: string): Promise<Map<string, number | undefined>> {
  const cas = [];
  for (const generation of await env.certificates.listCaGenerations(authority)) {
    const stored = await env.certificates.readCa(authority, generation);
    if (stored !== undefined) cas.push({ generation, certificate: parseCertificate(stored.certificatePem) });
  }
  const directory = new CaDirectory(cas);
  const ids = config.leaves.filter((leaf) => leaf.authority === authority).map((leaf) => leaf.id);
  const { leaves } = await env.certificates.readLeaves(authority, ids);
  return new Map(leaves.map((leaf) => [leaf.id, directory.examineLeaf(leaf.certificatePem, leaf.privateKeyPem).generation]));
}

/** The generations the authority's bundle secret holds. */
export async function bundleGenerations(env: LocalEnvironment, authority: string): Promise<number[]> {
  const cas = [];
  for (const generation of await env.certificates.listCaGenerations(authority)) {
    const stored = await env.certificates.readCa(authority, generation);
    if (stored !== undefined) cas.push({ generation, certificate: parseCertificate(stored.certificatePem) });
  }
  const bundle = await env.certificates.readBundle(authority);
  return bundle === undefined ? [] : (new CaDirectory(cas).generationsIn(bundle) ?? []);
}
