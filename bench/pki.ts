import { webcrypto } from 'node:crypto';
import {
  Issuer,
  KEY_ALGORITHMS,
  generateCa,
  parseCertificate,
  verifyChain,
  type KeyAlgorithm,
} from '../lib/pki/index.js';
import { measure, printTable } from './harness.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 1);

export interface PkiAlgorithmResult {
  algorithm: KeyAlgorithm;
  caGenerationPerSecond: number;
  leafIssuancePerSecond: number;
  parsePerSecond: number;
  chainVerificationPerSecond: number;
}

export interface PkiBenchResult {
  algorithms: PkiAlgorithmResult[];
  rawWebCryptoP256KeyPairAndSignPerSecond: number;
  p256LeafIssuanceVsRawWebCrypto: number;
}

/** The floor any certificate issuance pays: a WebCrypto P-256 key pair and one signature. */
async function rawWebCryptoP256(): Promise<number> {
  const payload = new Uint8Array(400);
  const result = await measure('raw WebCrypto P-256 key pair + sign', async () => {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, keys.privateKey, payload);
  });
  return result.opsPerSecond;
}

async function benchAlgorithm(algorithm: KeyAlgorithm, progress: (line: string) => void): Promise<PkiAlgorithmResult> {
  progress(`pki: ${algorithm}`);
  const slow = algorithm.startsWith('rsa');
  const timing = slow ? { minMs: 1500, minIterations: 3, warmup: 1 } : { minMs: 1000 };
  let generation = 0;
  const caGeneration = await measure(`${algorithm} CA`, () =>
    generateCa({ authority: 'bench', generation: ++generation, algorithm, now: NOW, lifetimeMs: 365 * DAY }),
  timing);
  const ca = await generateCa({ authority: 'bench', generation: 1, algorithm, now: NOW, lifetimeMs: 365 * DAY });
  const issuer = Issuer.fromCaGeneration(ca);
  const request = {
    subject: 'CN=bench.example',
    dnsNames: ['bench.example', 'bench.svc.cluster.local'],
    ipAddresses: ['10.0.0.1'],
    usage: 'both',
    lifetimeMs: 30 * DAY,
    algorithm,
  } as const;
  const issuance = await measure(`${algorithm} leaf`, async () => {
    const leaf = await issuer.issueLeaf(request, NOW);
    return leaf.certificatePem.length + leaf.privateKeyPem.length;
  }, timing);
  const leaf = await issuer.issueLeaf(request, NOW);
  const parse = await measure(`${algorithm} parse`, () => parseCertificate(leaf.certificatePem));
  const bundle = [parseCertificate(ca.certificatePem)];
  const verify = await measure(`${algorithm} verify`, () =>
    verifyChain([parseCertificate(leaf.certificatePem)], bundle, NOW + DAY, { purpose: 'serverAuth' }),
  );
  return {
    algorithm,
    caGenerationPerSecond: caGeneration.opsPerSecond,
    leafIssuancePerSecond: issuance.opsPerSecond,
    parsePerSecond: parse.opsPerSecond,
    chainVerificationPerSecond: verify.opsPerSecond,
  };
}

export async function benchPki(progress: (line: string) => void): Promise<PkiBenchResult> {
  const algorithms: PkiAlgorithmResult[] = [];
  for (const algorithm of KEY_ALGORITHMS) algorithms.push(await benchAlgorithm(algorithm, progress));
  progress('pki: raw WebCrypto baseline');
  const raw = await rawWebCryptoP256();
  const p256 = algorithms.find((result) => result.algorithm === 'p256')?.leafIssuancePerSecond ?? 0;
  printTable(
    'lib/pki (ops/s; leaf issuance = key pair + certificate + PEM; verification includes parsing the leaf)',
    ['algorithm', 'CA generation', 'leaf issuance', 'parse', 'chain verification'],
    algorithms.map((r) => [r.algorithm, r.caGenerationPerSecond, r.leafIssuancePerSecond, r.parsePerSecond, r.chainVerificationPerSecond]),
  );
  const ratio = p256 / raw;
  printTable('P-256 leaf issuance vs raw WebCrypto P-256 key pair + one signature (target >= 0.1)', ['raw ops/s', 'issuance ops/s', 'ratio'], [
    [raw, p256, ratio],
  ]);
  return { algorithms, rawWebCryptoP256KeyPairAndSignPerSecond: raw, p256LeafIssuanceVsRawWebCrypto: ratio };
}
