/**
 * `npm start` adopts one authority the way a user comes to certrotate: with a CA and leaves made by
 * the `openssl` command line (lib/simulation/openssl.ts, as kubeadm's manual procedure makes them),
 * already in the field in certrotate's layout, then `import-ca` (lib/engine/import-ca.ts). The CA
 * was made 300 days before the simulation starts and lives 20 days past the authority's rotation
 * lead, so the run first renews leaves from it, then rotates away from it on schedule.
 */
import type { CertrotateConfig } from '../config/index.js';
import { importCa, type ImportCaResult } from '../engine/import-ca.js';
import type { LocalEnvironment } from '../local/environment.js';
import { assertOpensslTools, opensslCa, opensslLeaf } from './openssl.js';

const DAY = 86_400_000;
/** How long the adopted CA has lived when the simulation starts. */
const CA_AGE_DAYS = 300;
/** How long it is used before its scheduled rotation starts. */
const DAYS_BEFORE_ROTATION = 20;

/** kubeadm's CA names: `kubernetes` for the cluster CA, `<name>-ca` for the others. */
function caCommonName(authority: string): string {
  return authority === 'cluster' ? 'kubernetes' : `${authority}-ca`;
}

export async function adoptFromOpenssl(
  env: LocalEnvironment,
  config: CertrotateConfig,
  authority: string,
  start: number,
  seed: number,
  onProgress?: (line: string) => void,
): Promise<ImportCaResult> {
  const spec = config.authorities.find((candidate) => candidate.name === authority);
  if (spec === undefined) throw new Error(`cannot adopt authority ${authority}: it is not in the simulation's configuration`);
  await assertOpensslTools();
  const leaves = config.leaves.filter((leaf) => leaf.authority === authority);
  const longestDays = Math.max(0, ...leaves.map((leaf) => Math.ceil(leaf.lifetimeMs / DAY)));
  const remainingDays = Math.max(Math.ceil(spec.rotation.rotationLeadMs / DAY) + DAYS_BEFORE_ROTATION, longestDays + 1);
  const ca = await opensslCa({ subject: `CN=${caCommonName(authority)}`, at: start - CA_AGE_DAYS * DAY, days: CA_AGE_DAYS + remainingDays, key: spec.algorithm });
  for (const [index, leaf] of leaves.entries()) {
    const days = Math.max(1, Math.round(leaf.lifetimeMs / DAY));
    // Issued half a lifetime ago: each is renewed from the adopted CA before the rotation moves it.
    const made = await opensslLeaf(ca, {
      subject: leaf.subject,
      dnsNames: leaf.dnsNames,
      ipAddresses: leaf.ipAddresses,
      usage: leaf.usage,
      at: start - Math.floor(days / 2) * DAY,
      days,
      key: leaf.algorithm,
      serialHex: `7${(seed % 0xffff).toString(16).padStart(4, '0')}${index.toString(16).padStart(27, '0')}`,
    });
    await env.certificates.writeLeaf({ authority, id: leaf.id, ...made, bundlePem: ca.certificatePem });
  }
  const result = await importCa(env.deps(config), config, { authority, certificatePem: ca.certificatePem, privateKeyPem: ca.privateKeyPem }, start);
  onProgress?.(
    `${new Date(start).toISOString().slice(0, 16)} ${authority}: adopted CA "CN=${caCommonName(authority)}" made with openssl (SHA-256 ${result.fingerprintSha256.slice(0, 16)}..., ` +
      `valid until ${new Date(result.notAfter).toISOString().slice(0, 10)}) as generation 1, with ${result.adoptedLeaves.length}/${leaves.length} leaves in the field made with openssl`,
  );
  return result;
}
