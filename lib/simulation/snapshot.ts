/**
 * `npm start --out DIR`: the material of one pair before and after each phase transition, as files
 * an operator can hand to openssl (`before/` and `after/`: ca.crt, server.crt/.key, client.crt/.key,
 * and `at`, the transition's instant).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredLeaf } from '../ports.js';
import type { Transition } from '../rotation/index.js';
import type { Pair } from './pairs.js';

type Material = ReadonlyMap<string, StoredLeaf>;

export function writeSnapshot(folder: string, transition: Transition, pair: Pair, before: Material | undefined, after: Material | undefined): void {
  for (const [side, material] of [['before', before], ['after', after]] as const) {
    const server = material?.get(pair.server);
    const client = material?.get(pair.client);
    if (server === undefined || client === undefined) continue;
    const sideDir = join(folder, side);
    mkdirSync(sideDir, { recursive: true });
    // One ca.crt per side folder: the server's; a server and its client hold the same bundle.
    writeFileSync(join(sideDir, 'ca.crt'), server.bundlePem);
    writeFileSync(join(sideDir, 'server.crt'), server.certificatePem);
    writeFileSync(join(sideDir, 'server.key'), server.privateKeyPem);
    writeFileSync(join(sideDir, 'client.crt'), client.certificatePem);
    writeFileSync(join(sideDir, 'client.key'), client.privateKeyPem);
  }
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'at'), `${new Date(transition.at).toISOString().replace('.000Z', 'Z')}\n`);
}
