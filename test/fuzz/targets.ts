/**
 * The fuzz targets, one implementation for `npm run fuzz` (test/fuzz/run.ts) and the CI test
 * (test/fuzz/fuzz.test.ts). Each target generates inputs with fast-check and checks every output:
 * no crash, only certrotate's typed errors, nothing changed by a refusal, no key material out.
 */
import 'reflect-metadata';
import fc from 'fast-check';
import { generateKeyPairSync } from 'node:crypto';
import { parseConfig, type CertrotateConfig } from '../../lib/config/index.js';
import { ValidationError } from '../../lib/errors.js';
import {
  CaDirectory,
  Issuer,
  describeBundle,
  generateCa,
  inspectCertificate,
  parseCertificate,
  parseCertificates,
  parsePemBlocks,
  parsePrivateKey,
  splitBundle,
  verifyChain,
  type CaGeneration,
} from '../../lib/pki/index.js';
import { lambdaContext, startHarness, type Harness } from '../functions/support.js';
import { fleetConfig } from '../support/fleet.js';
import { DAY, HOUR, T0 } from '../support/pki.js';
import { hostileStrings, mutated, pemPastes, pollutedObject, withOwnKey, wrongValues, PROTOTYPE_KEYS } from './inputs.js';
import { FuzzFailure, KeyIndex, assertNoKeyMaterial, assertTyped, describeInput } from './oracle.js';

export const TARGET_NAMES = ['pem', 'config', 'command', 'scheduled'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** Inputs per target in a full run (>= 100,000 in all; the pure targets carry most of it). */
export const FULL_RUNS: Record<TargetName, number> = { pem: 50_000, config: 40_000, command: 6_000, scheduled: 4_000 };
/** Inputs per target in CI. */
export const CI_RUNS: Record<TargetName, number> = { pem: 1_500, config: 1_500, command: 500, scheduled: 300 };

export interface FailureReport {
  target: TargetName;
  kind: string;
  detail: string;
  /** The smallest input (as printed) that showed this failure, redacted. */
  counterexample: string;
  /** How many inputs failed this way. */
  count: number;
}

export interface TargetResult {
  target: TargetName;
  inputs: number;
  failures: number;
  reports: FailureReport[];
  ms: number;
}

/** Everything the targets share in one run: the keys issued, and the local environment (started on first use). */
export class FuzzSession {
  readonly keys = new KeyIndex();
  #pki: Promise<Pki> | undefined;
  #harness: Promise<Harness> | undefined;

  pki(): Promise<Pki> {
    this.#pki ??= makePki(this.keys);
    return this.#pki;
  }

  harness(): Promise<Harness> {
    this.#harness ??= (async () => {
      const h = await startHarness(HARNESS_CONFIG, T0);
      await quietly(() => h.scan({ mode: 'reconcile' }, lambdaContext('certrotate-scan')));
      return h;
    })();
    return this.#harness;
  }

  /** Issued keys not yet indexed (the handlers issue them as they run). */
  async indexIssuedKeys(): Promise<void> {
    if (this.#harness === undefined) return;
    this.keys.addAll((await this.#harness).keys);
  }

  async stop(): Promise<void> {
    if (this.#harness !== undefined) await (await this.#harness).stop();
  }
}

// PEM CA keys: the functions harness has no KMS, and a CA key in the secret is key material the
// properties must never see leave.
const HARNESS_CONFIG: CertrotateConfig = fleetConfig({ leaves: 3, caKeyStore: 'secret' });

/** Certificates and keys made once per run, to feed the PEM target and to paste into fields. */
interface Pki {
  ca: CaGeneration;
  otherCa: CaGeneration;
  leafPem: string;
  leafKeyPem: string;
  chainPem: string;
  bundlePem: string;
  keyPems: string[];
  pastes: string[];
  issuer: Issuer;
}

async function makePki(keys: KeyIndex): Promise<Pki> {
  const ca = await generateCa({ authority: 'fuzz', generation: 1, now: T0, lifetimeMs: 365 * DAY });
  const otherCa = await generateCa({ authority: 'fuzz', generation: 2, now: T0, lifetimeMs: 365 * DAY, algorithm: 'p384' });
  const issuer = Issuer.fromCaGeneration(ca);
  const leaf = await issuer.issueLeaf({ subject: 'CN=fuzz', dnsNames: ['fuzz.example'], ipAddresses: ['10.0.0.1'], uris: ['spiffe://fuzz/a'], usage: 'both', lifetimeMs: 30 * DAY }, T0);
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ed = generateKeyPairSync('ed25519');
  const keyPems = [
    leaf.privateKeyPem,
    ca.privateKeyPem,
    otherCa.privateKeyPem,
    rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }).toString(),
    ec.privateKey.export({ format: 'pem', type: 'sec1' }).toString(),
    small.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    ec.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-128-cbc', passphrase: 'fuzz' }).toString(),
  ];
  keys.addAll(keyPems);
  // A second key of every format marks what keys of that format share as framing.
  for (const pair of [generateKeyPairSync('ec', { namedCurve: 'P-256' }), generateKeyPairSync('ec', { namedCurve: 'P-384' })]) {
    for (const type of ['sec1', 'pkcs8'] as const) keys.addFraming(pair.privateKey.export({ format: 'pem', type }).toString());
  }
  const rsaFraming = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  for (const type of ['pkcs1', 'pkcs8'] as const) keys.addFraming(rsaFraming.export({ format: 'pem', type }).toString());
  return {
    ca,
    otherCa,
    leafPem: leaf.certificatePem,
    leafKeyPem: leaf.privateKeyPem,
    chainPem: leaf.certificatePem + ca.certificatePem,
    bundlePem: ca.certificatePem + otherCa.certificatePem,
    keyPems,
    pastes: pemPastes(keyPems, leaf.certificatePem),
    issuer,
  };
}

/** One target: an input generator and the check of one input. */
interface Target {
  arbitrary: fc.Arbitrary<unknown>;
  check(input: unknown): Promise<void> | void;
}

const TARGETS: Record<TargetName, (session: FuzzSession) => Promise<Target>> = {
  pem: pemTarget,
  config: configTarget,
  command: commandTarget,
  scheduled: scheduledTarget,
};

/**
 * Runs one target for `runs` inputs from `seed`. Every input runs (a failure does not stop the
 * target); failures are grouped by what broke, each with its smallest counterexample.
 */
export async function runTarget(
  session: FuzzSession,
  name: TargetName,
  options: { runs: number; seed: number; progress?: (done: number) => void },
): Promise<TargetResult> {
  const started = Date.now();
  const target = await TARGETS[name](session);
  const reports = new Map<string, FailureReport>();
  let inputs = 0;
  let failures = 0;
  const property = fc.asyncProperty(target.arbitrary, async (input) => {
    inputs++;
    if (inputs % 500 === 0) options.progress?.(inputs);
    const began = performance.now();
    try {
      await target.check(input);
      const ms = performance.now() - began;
      if (ms > SLOW_MS) throw new FuzzFailure('slow input', `one input took ${Math.round(ms)} ms (the bound is ${SLOW_MS} ms)`);
      const polluted = Object.getOwnPropertyNames(Object.prototype).filter((key) => !PROTOTYPE_NAMES.has(key));
      if (polluted.length > 0) {
        for (const key of polluted) delete (Object.prototype as Record<string, unknown>)[key];
        throw new FuzzFailure('prototype pollution', `Object.prototype gained ${polluted.join(', ')}`);
      }
    } catch (error) {
      failures++;
      const failure = error instanceof FuzzFailure ? error : new FuzzFailure('fuzz harness error', error instanceof Error ? (error.stack ?? error.message) : String(error));
      const group = `${failure.kind}: ${failure.detail.split('\n')[0]?.replace(/"[^"]*"|\d+/g, '_').slice(0, 120) ?? ''}`;
      const counterexample = describeInput(session.keys, input);
      const detail = session.keys.redact(failure.detail);
      const known = reports.get(group);
      if (known === undefined) reports.set(group, { target: name, kind: failure.kind, detail, counterexample, count: 1 });
      else {
        known.count++;
        if (counterexample.length < known.counterexample.length) Object.assign(known, { counterexample, detail });
      }
    }
  });
  await fc.assert(property, { numRuns: options.runs, seed: options.seed, verbose: 0 });
  return { target: name, inputs, failures, reports: [...reports.values()], ms: Date.now() - started };
}

/** No single input may take longer than this: a parser that does is a denial of service. */
const SLOW_MS = 10_000;

const PROTOTYPE_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

/** Runs `body`, returning the error it threw (typed check included) or undefined. */
function refusalOf(body: () => unknown, where: string): unknown {
  try {
    body();
    return undefined;
  } catch (error) {
    assertTyped(error, where);
    return error;
  }
}

function checkMessage(session: FuzzSession, error: unknown, where: string): void {
  if (!(error instanceof Error)) return;
  assertNoKeyMaterial(session.keys, error.message, `the message of ${where}'s ${error.name}`);
  if (error.message.length > 16_000) throw new FuzzFailure('unbounded message', `${where}'s ${error.name} message is ${error.message.length} characters`);
}

// ---------------------------------------------------------------------------------------------
// PEM and DER

type PemOperation = 'parseCertificate' | 'parseCertificates' | 'splitBundle' | 'describeBundle' | 'inspectCertificate' | 'parsePrivateKey' | 'parsePemBlocks' | 'Issuer.fromPem' | 'verifyChain' | 'examineLeaf';
const PEM_OPERATIONS: PemOperation[] = ['parseCertificate', 'parseCertificates', 'splitBundle', 'describeBundle', 'inspectCertificate', 'parsePrivateKey', 'parsePemBlocks', 'Issuer.fromPem', 'verifyChain', 'examineLeaf'];

interface PemInput {
  operation: PemOperation;
  text: string | Uint8Array;
  other: string;
  at: number;
}

function derOf(pem: string): Uint8Array {
  return new Uint8Array(Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64'));
}

function toPemText(der: Uint8Array, label: string): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** DER with bytes flipped, cut, inserted, or a length byte changed. */
function mutatedDer(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(fc.constantFrom('flip', 'set', 'cut', 'insert', 'delete', 'length'), fc.nat(), fc.integer({ min: 0, max: 255 }));
  return fc.array(edit, { minLength: 1, maxLength: 4 }).map((edits) => {
    let bytes = Uint8Array.from(base);
    for (const [kind, position, value] of edits) {
      const i = position % Math.max(1, bytes.length);
      if (kind === 'flip') bytes[i] = (bytes[i] ?? 0) ^ (1 << (value % 8));
      else if (kind === 'set') bytes[i] = value;
      else if (kind === 'cut') bytes = bytes.slice(0, i);
      else if (kind === 'insert') bytes = Uint8Array.from([...bytes.slice(0, i), value, ...bytes.slice(i)]);
      else if (kind === 'delete') bytes = Uint8Array.from([...bytes.slice(0, i), ...bytes.slice(i + 1)]);
      // A tag or length byte near the start of a structure: what a careless edit breaks first.
      else bytes[Math.min(i % 16, Math.max(0, bytes.length - 1))] = value;
    }
    return bytes;
  });
}

/** PEM text with its framing broken: labels, END lines, whitespace, base64, blocks joined. */
function mutatedPem(bases: readonly string[]): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(...bases), fc.constantFrom('label', 'noEnd', 'crlf', 'spaces', 'base64', 'join', 'prefix', 'truncate', 'lower', 'empty', 'padding'), fc.nat(), fc.string({ maxLength: 8 })).map(([pem, kind, n, junk]) => {
    switch (kind) {
      case 'label':
        return pem.replace(/(BEGIN|END) [A-Z ]+-----/g, `$1 ${['CERTIFICATE', 'PRIVATE KEY', 'EC PARAMETERS', 'X509 CRL', 'TRUSTED CERTIFICATE', ''][n % 6] ?? ''}-----`);
      case 'noEnd':
        return pem.replace(/-----END [A-Z ]+-----\n?/, '');
      case 'crlf':
        return pem.replaceAll('\n', '\r\n');
      case 'spaces':
        return pem.replaceAll('\n', ` ${junk}\n`);
      case 'base64': {
        const i = 30 + (n % Math.max(1, pem.length - 60));
        return pem.slice(0, i) + junk + pem.slice(i + junk.length);
      }
      case 'join':
        return pem + pem.slice(0, n % pem.length);
      case 'prefix':
        return `${junk}\n${pem}${junk}`;
      case 'truncate':
        return pem.slice(0, n % pem.length);
      case 'lower':
        return pem.toLowerCase();
      case 'empty':
        return '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n';
      default:
        return pem.replace(/=*\n-----END/, '====\n-----END');
    }
  });
}

async function pemTarget(session: FuzzSession): Promise<Target> {
  const pki = await session.pki();
  const certificatePems = [pki.leafPem, pki.ca.certificatePem, pki.otherCa.certificatePem, pki.chainPem, pki.bundlePem];
  const allPems = [...certificatePems, ...pki.keyPems];
  const ders = [derOf(pki.leafPem), derOf(pki.ca.certificatePem), derOf(pki.otherCa.certificatePem)];
  const keyDers = [derOf(pki.leafKeyPem), derOf(pki.ca.privateKeyPem)];
  const text: fc.Arbitrary<string | Uint8Array> = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...ders), fc.constantFrom('CERTIFICATE', 'CERTIFICATE', 'PRIVATE KEY')).chain(([der, label]) => mutatedDer(der).map((bytes) => toPemText(bytes, label))) },
    { weight: 2, arbitrary: fc.constantFrom(...keyDers).chain((der) => mutatedDer(der).map((bytes) => toPemText(bytes, 'PRIVATE KEY'))) },
    { weight: 2, arbitrary: fc.constantFrom(...ders).chain((der) => mutatedDer(der)) },
    { weight: 3, arbitrary: mutatedPem(allPems) },
    { weight: 1, arbitrary: fc.constantFrom(...allPems, ...pki.pastes) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => toPemText(bytes, 'CERTIFICATE')) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', '-----BEGIN CERTIFICATE-----', '-----BEGIN -----\n-----END -----', `-----BEGIN CERTIFICATE-----\n${'A'.repeat(100_000)}\n-----END CERTIFICATE-----`) },
  );
  const arbitrary = fc.record({
    operation: fc.constantFrom(...PEM_OPERATIONS),
    text,
    other: fc.oneof(fc.constantFrom(...allPems), mutatedPem(allPems)),
    at: fc.oneof(fc.constant(T0 + HOUR), fc.integer({ min: T0 - 400 * DAY, max: T0 + 400 * DAY }), fc.constantFrom(Number.NaN, -1, 8.64e15)),
  });
  const directory = new CaDirectory([
    { generation: 1, certificate: pki.ca.certificate },
    { generation: 2, certificate: pki.otherCa.certificate },
  ]);
  const asText = (value: string | Uint8Array) => (typeof value === 'string' ? value : toPemText(value, 'CERTIFICATE'));
  return {
    arbitrary,
    check(value) {
      const { operation, text: input, other, at } = value as PemInput;
      const run = (): unknown => {
        switch (operation) {
          case 'parseCertificate': {
            const certificate = parseCertificate(input);
            return [certificate.subject, certificate.issuer, certificate.notAfter, certificate.subjectAltNames, certificate.describe()];
          }
          case 'parseCertificates':
            return parseCertificates(input).map((certificate) => certificate.describe());
          case 'splitBundle':
            return splitBundle(asText(input)).length;
          case 'describeBundle':
            return describeBundle(asText(input));
          case 'inspectCertificate':
            return inspectCertificate(input);
          case 'parsePrivateKey':
            return parsePrivateKey(asText(input)).algorithm;
          case 'parsePemBlocks':
            return parsePemBlocks(asText(input)).length;
          case 'Issuer.fromPem':
            // Either side may be the broken one.
            return typeof input === 'string' && input.includes('KEY') ? Issuer.fromPem(other, input) : Issuer.fromPem(asText(input), other);
          case 'verifyChain':
            return typeof input === 'string' && input.length % 2 === 0 ? verifyChain(input, other, at, { purpose: 'serverAuth' }) : verifyChain(other, asText(input), at);
          case 'examineLeaf':
            return directory.examineLeaf(asText(input), other);
        }
      };
      const refusal = refusalOf(run, operation);
      checkMessage(session, refusal, operation);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Configurations

const BASE_CONFIG = {
  authorities: [
    {
      name: 'cluster', algorithm: 'p256', caLifetimeDays: 365, rotationLeadDays: 30, soakHours: { trustExpanded: 2, leavesMigrated: 2 }, republishAfterMinutes: 30,
      consumers: {
        elbv2TrustStores: [{ region: 'eu-west-1', bucket: 'pki-bundles', key: 'cluster/alb.pem', trustStoreArn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:truststore/clients/0123456789abcdef' }],
        apiGatewayDomains: [{ region: 'eu-west-1', bucket: 'pki-bundles', key: 'cluster/api.pem', domainName: 'api.example.com' }],
        acmCertificates: [
          { region: 'eu-west-1', leaf: 'api', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012' },
          { region: 'us-east-1', leaf: 'api', createCertificate: 'api-listener' },
        ],
      },
    },
    { name: 'etcd', caKeyStore: 'secret', leafStore: 's3', nameConstraints: { permitted: { dnsDomains: ['local'], ipRanges: ['10.0.0.0/8'] } } },
  ],
  leaves: [
    { authority: 'cluster', id: 'api', subject: 'CN=api,O=example', dnsNames: ['api.example.com', '*.api.example.com'], ipAddresses: ['10.0.0.1', '2001:db8::1'], uris: ['spiffe://cluster.local/ns/default/sa/api'], usage: 'server', lifetimeDays: 30, consumers: ['worker'] },
    { authority: 'cluster', id: 'worker', subject: 'CN=worker', usage: 'client', lifetimeDays: 7, algorithm: 'p384' },
    { authority: 'etcd', id: 'etcd-0', subject: 'CN=etcd-0', dnsNames: ['etcd-0.local'], usage: 'both', lifetimeDays: 14 },
  ],
  renewal: { renewBeforeHours: 24, jitterMinutes: 30 },
};

const CONFIG_KEYS = ['authorities', 'leaves', 'renewal', 'name', 'algorithm', 'caLifetimeDays', 'rotationLeadDays', 'soakHours', 'republishAfterMinutes', 'consumers', 'eks', 'authority', 'id', 'subject', 'dnsNames', 'ipAddresses', 'uris', 'usage', 'lifetimeDays', 'renewBeforeHours', 'jitterMinutes', 'trustExpanded', 'leavesMigrated',
  'caKeyStore', 'leafStore', 'nameConstraints', 'permitted', 'excluded', 'dnsDomains', 'ipRanges', 'elbv2TrustStores', 'apiGatewayDomains', 'acmCertificates',
  'region', 'bucket', 'key', 'trustStoreArn', 'createTrustStore', 'domainName', 'leaf', 'certificateArn', 'createCertificate'];

async function configTarget(session: FuzzSession): Promise<Target> {
  const pki = await session.pki();
  const strings = hostileStrings(pki.pastes);
  const numbers = fc.oneof(fc.double({ min: -10, max: 10_000 }), fc.integer({ min: -1, max: 8000 }), fc.constantFrom(0, 1 / 24, 1 / 25, 2, 720, 721, 1440, 1441, 3650, 3651, 7300, 7301, 3e6, 1e308, -0));
  const values = fc.oneof({ weight: 3, arbitrary: strings }, { weight: 3, arbitrary: numbers }, { weight: 2, arbitrary: wrongValues(strings) }, { weight: 1, arbitrary: fc.array(strings, { maxLength: 3 }) });
  const keyNames = fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS, ...CONFIG_KEYS), strings);
  const arbitrary = fc.oneof(
    { weight: 12, arbitrary: mutated(BASE_CONFIG, values, keyNames) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3, withNullPrototype: true, withBoxedValues: true }) },
    { weight: 1, arbitrary: pollutedObject() },
    { weight: 1, arbitrary: fc.constant(BASE_CONFIG) },
  );
  /** Leaves the configuration accepted, issued once each: a name it accepts must be one lib/pki issues. */
  const issued = new Map<string, string | undefined>();
  return {
    arbitrary,
    async check(document) {
      let config: CertrotateConfig | undefined;
      const refusal = refusalOf(() => (config = parseConfig(document)), 'parseConfig');
      checkMessage(session, refusal, 'parseConfig');
      if (refusal !== undefined && !(refusal instanceof ValidationError)) throw new FuzzFailure('wrong refusal', `parseConfig refused with ${(refusal as Error).name}, not ValidationError`);
      if (config === undefined) return;
      for (const [index, leaf] of config.leaves.entries()) {
        const request = { subject: leaf.subject, dnsNames: leaf.dnsNames, ipAddresses: leaf.ipAddresses, uris: leaf.uris, usage: leaf.usage, lifetimeMs: leaf.lifetimeMs };
        const key = JSON.stringify(request);
        if (!issued.has(key)) {
          try {
            const leafIssued = await pki.issuer.issueLeaf(request, T0);
            const back = parseCertificate(leafIssued.certificatePem);
            verifyChain(back.pem, pki.ca.certificatePem, T0);
            if (back.subjectAltNames.dns.length !== leaf.dnsNames.length || back.subjectAltNames.uri.length !== leaf.uris.length || back.subjectAltNames.ip.length !== leaf.ipAddresses.length) {
              throw new Error(`the issued leaf's SANs ${JSON.stringify(back.subjectAltNames)} differ from the configured names`);
            }
            issued.set(key, undefined);
          } catch (error) {
            issued.set(key, `${error instanceof Error ? error.name : 'Error'}: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
        const problem = issued.get(key);
        if (problem !== undefined) throw new FuzzFailure('accepted but not issuable', `parseConfig accepted config.leaves[${index}] (${JSON.stringify(request).slice(0, 300)}) but issuing it failed: ${problem.slice(0, 300)}`);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The handlers, against the local endpoints

/** Captures what the handlers write to stdout and stderr (Powertools logs and EMF metrics). */
async function captured<T>(body: () => Promise<T>): Promise<{ value: T; output: string }> {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const capture = (chunk: unknown): boolean => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
    return true;
  };
  process.stdout.write = capture;
  process.stderr.write = capture;
  try {
    return { value: await body(), output: chunks.join('') };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

async function quietly<T>(body: () => Promise<T>): Promise<T> {
  return (await captured(body)).value;
}

/** What a refusal must leave alone: every authority's state row, every secret write, every key. */
async function snapshot(h: Harness): Promise<string> {
  const states = await Promise.all(HARNESS_CONFIG.authorities.map((authority) => h.env.state.readState(authority.name)));
  const writes = Object.entries(h.env.secretsManager.calls()).filter(([operation]) => !/^(Get|BatchGet|List|Describe)/.test(operation));
  return JSON.stringify({ states, writes, keys: h.keys.size });
}

/** The log and answer checks every handler invocation gets. */
function checkOutput(session: FuzzSession, answer: string, output: string, refused: boolean): void {
  assertNoKeyMaterial(session.keys, answer, 'the answer');
  assertNoKeyMaterial(session.keys, output, 'the log');
  if (refused && answer.length > 8_000) throw new FuzzFailure('unbounded answer', `a refusal answer is ${answer.length} characters`);
  const longest = Math.max(0, ...output.split('\n').map((line) => line.length));
  if (longest > 32_000) throw new FuzzFailure('unbounded log line', `a log line is ${longest} characters`);
}

const COMMAND_TYPES = new Set(['ValidationError', 'NotFoundError', 'CommandRefusedError', 'ConflictError', 'StoredDataError']);

function validCommands(requestIds: fc.Arbitrary<string>, reasons: fc.Arbitrary<string>): fc.Arbitrary<Record<string, unknown>> {
  const authority = fc.constantFrom('cluster', 'cluster', 'etcd');
  return fc.oneof(
    fc.record({ action: fc.constant('rotate-ca'), authority, requestId: requestIds, reason: reasons, emergency: fc.boolean() }, { requiredKeys: ['action', 'authority', 'requestId', 'reason'] }),
    fc.record({ action: fc.constantFrom('pause', 'resume', 'rollback'), authority, requestId: requestIds, reason: reasons }, { requiredKeys: ['action', 'authority', 'requestId'] }),
    fc.record({ action: fc.constant('renew'), authority, requestId: requestIds, leaf: fc.constantFrom('svc-0', 'svc-1', 'svc-2', 'svc-9'), reason: reasons }, { requiredKeys: ['action', 'authority', 'requestId'] }),
    fc.record({ action: fc.constantFrom('status', 'plan'), authority }, { requiredKeys: ['action'] }),
    fc.record({ action: fc.constant('history'), authority }),
  );
}

async function commandTarget(session: FuzzSession): Promise<Target> {
  const pki = await session.pki();
  const h = await session.harness();
  const strings = hostileStrings(pki.pastes);
  const requestIds = fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,16}$/), fc.constantFrom('r-1', 'r-2', 'renew-svc-1'));
  const reasons = fc.oneof(fc.constantFrom('planned rotation', 'key compromise on node 3'), strings);
  const valid = validCommands(requestIds, reasons);
  const values = fc.oneof({ weight: 3, arbitrary: strings }, { weight: 2, arbitrary: wrongValues(strings) });
  const keyNames = fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS, 'action', 'authority', 'requestId', 'reason', 'emergency', 'leaf', 'force'), strings);
  const arbitrary = fc.oneof(
    { weight: 2, arbitrary: valid },
    { weight: 10, arbitrary: valid.chain((event) => mutated(event, values, keyNames)) },
    { weight: 1, arbitrary: valid.chain((event) => fc.constantFrom(...PROTOTYPE_KEYS).map((key) => withOwnKey({ ...event }, key, { action: 'rotate-ca', polluted: true }))) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.anything({ maxDepth: 2, withNullPrototype: true, withBoxedValues: true }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, null, 'status', [], { action: 'status', ...Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i])) }) },
  );
  let before = await snapshot(h);
  return {
    arbitrary,
    async check(event) {
      h.clock.advance(60_000);
      let answer: unknown;
      let output: string;
      try {
        ({ value: answer, output } = await captured(() => h.command(event, lambdaContext('certrotate-command'))));
      } catch (error) {
        throw new FuzzFailure('crash', `the command function rejected instead of answering: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
      } finally {
        await session.indexIssuedKeys();
      }
      const after = await snapshot(h);
      const changed = after !== before;
      before = after;
      const text = JSON.stringify(answer) ?? 'undefined';
      if (typeof answer !== 'object' || answer === null || typeof (answer as { ok?: unknown }).ok !== 'boolean') throw new FuzzFailure('malformed answer', `the command function answered ${text.slice(0, 200)}`);
      const refused = (answer as { ok: boolean }).ok === false;
      checkOutput(session, text, output, refused);
      if (!refused) return;
      const error = (answer as { error?: { type?: unknown; message?: unknown; statusCode?: unknown } }).error;
      if (typeof error?.type !== 'string' || !COMMAND_TYPES.has(error.type)) {
        throw new FuzzFailure('untyped error', `the command function answered ${String(error?.type)} (${String(error?.message).slice(0, 200)}); the log says: ${firstError(output)}`);
      }
      if (changed) throw new FuzzFailure('state changed on a refusal', `the command was refused with ${error.type} (${String(error.message).slice(0, 200)}) but the stored state or secrets changed`);
    },
  };
}

/** The first error a log holds, shortened, for a failure's detail. */
function firstError(output: string): string {
  const line = output.split('\n').find((candidate) => candidate.includes('"level":"ERROR"'));
  return line === undefined ? 'no error line' : line.slice(0, 600);
}

async function scheduledTarget(session: FuzzSession): Promise<Target> {
  const pki = await session.pki();
  const h = await session.harness();
  const strings = hostileStrings(pki.pastes);
  const values = fc.oneof({ weight: 2, arbitrary: fc.constantFrom<unknown>('scan', 'reconcile', 'Scan', 'SCAN', ' scan', 'scan\n') }, { weight: 3, arbitrary: strings }, { weight: 2, arbitrary: wrongValues(strings) });
  const keyNames = fc.oneof(fc.constantFrom(...PROTOTYPE_KEYS, 'mode', 'detail-type', 'source', 'detail'), strings);
  const envelope = { version: '0', id: 'e1', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: '2026-01-01T00:00:00Z', region: 'eu-west-1', resources: [], detail: {} };
  const event = fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom<unknown>({ mode: 'scan' }, { mode: 'reconcile' }, {}, undefined, null) },
    { weight: 12, arbitrary: fc.constantFrom<unknown>({ mode: 'scan' }, { mode: 'reconcile' }, {}, envelope).chain((base) => mutated(base, values, keyNames)) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 2, arbitrary: fc.anything({ maxDepth: 2, withNullPrototype: true, withBoxedValues: true }) },
    { weight: 1, arbitrary: pollutedObject() },
  );
  const arbitrary = fc.record({ handler: fc.constantFrom('scan', 'advance'), event });
  let before = await snapshot(h);
  return {
    arbitrary,
    async check(input) {
      const { handler, event: payload } = input as { handler: 'scan' | 'advance'; event: unknown };
      h.clock.advance(5 * 60_000);
      let outcome: { ok: true; value: unknown } | { ok: false; error: unknown } = { ok: false, error: undefined };
      const { output } = await captured(async () => {
        try {
          outcome = { ok: true, value: await h[handler](payload, lambdaContext(`certrotate-${handler}`)) };
        } catch (error) {
          outcome = { ok: false, error };
        }
      });
      await session.indexIssuedKeys();
      const after = await snapshot(h);
      const changed = after !== before;
      before = after;
      const result = outcome as { ok: true; value: unknown } | { ok: false; error: unknown };
      if (result.ok) {
        checkOutput(session, JSON.stringify(result.value) ?? 'undefined', output, false);
        return;
      }
      assertTyped(result.error, `the ${handler} function`);
      checkMessage(session, result.error, `the ${handler} function`);
      checkOutput(session, '', output, true);
      if (result.error instanceof ValidationError && changed) throw new FuzzFailure('state changed on a refusal', `the ${handler} function refused its event (${result.error.message.slice(0, 200)}) but the stored state or secrets changed`);
    },
  };
}
