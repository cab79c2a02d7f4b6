import 'reflect-metadata';
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import { generateKeyPairFor, isRsa, signatureProfile, type KeyAlgorithm } from './algorithms.js';
import { Certificate, EKU_CLIENT_AUTH, EKU_SERVER_AUTH } from './certificate.js';
import { ValidationError } from '../errors.js';
import { KeyMismatchError, NotACaError } from './errors.js';
import { parsePrivateKey, privateKeyToPem } from './keys.js';
import { localSigner, type CaSigner } from './signer.js';
import { derSequence, derTime, derTlv, subjectPublicKeyBits } from './der.js';
import { parseCertificate } from './certificate.js';
import { dnsNameProblem, ipAddressProblem, parseSubject, uriProblem } from './names.js';
import { assertLeafWithinNameConstraints, caNameConstraints, nameConstraintsExtension } from './name-constraints-extension.js';
import type { NameConstraints } from './name-constraints.js';

/** Randomness is an input: tests pass a seeded source, production the default. */
export type RandomSource = (length: number) => Uint8Array;
export const cryptoRandom: RandomSource = (length) => new Uint8Array(randomBytes(length));

/** How far notBefore is backdated, so that a peer whose clock runs slow still accepts the leaf. */
export const CLOCK_SKEW_BACKDATE_MS = 5 * 60 * 1000;

const AUTHORITY_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A serial number: 16 random bytes, top bit cleared so the DER INTEGER is positive, and the
 * second-highest bit set so the first byte is never zero (the value is then never zero and
 * always encodes as exactly 16 bytes, with no leading zero byte to drop). 126 random bits.
 */
export function newSerial(random: RandomSource): Uint8Array {
  const serial = random(16).slice(0, 16);
  if (serial.length !== 16) throw new RangeError('random source returned fewer than 16 bytes');
  serial[0] = ((serial[0] ?? 0) & 0x3f) | 0x40;
  return serial;
}

function extension(extnID: string, critical: boolean, value: unknown): asn1X509.Extension {
  return new asn1X509.Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function parsedExtension(ext: x509.Extension): asn1X509.Extension {
  return AsnConvert.parse(ext.rawData, asn1X509.Extension);
}

/** The parts of a TBSCertificate that differ per certificate. */
export interface CertificateContent {
  serial: Uint8Array;
  subject: asn1X509.Name;
  notBefore: number;
  notAfter: number;
  /** DER SubjectPublicKeyInfo, as the key exports it. */
  spkiDer: Uint8Array;
  extensions: asn1X509.Extension[];
}

/** The signing half of a CA, with the per-CA parts computed once. */
interface SigningKey {
  /** DER of the CA's subject: the issuer of what it signs. */
  nameDer: Uint8Array;
  signer: CaSigner;
  /** DER of the AlgorithmIdentifier, used in both the TBS and the outer certificate. */
  algorithmIdentifierDer: Uint8Array;
}

function signingKey(name: asn1X509.Name, signer: CaSigner): SigningKey {
  const profile = signatureProfile(signer.algorithm);
  const algorithmIdentifier = new asn1X509.AlgorithmIdentifier({
    algorithm: profile.oid,
    ...(profile.nullParameters ? { parameters: null } : {}),
  });
  return {
    nameDer: new Uint8Array(AsnConvert.serialize(name)),
    signer,
    algorithmIdentifierDer: new Uint8Array(AsnConvert.serialize(algorithmIdentifier)),
  };
}

/** Each extension's DER, serialized once: most are the same object for every leaf. */
const EXTENSION_DER = new WeakMap<asn1X509.Extension, Uint8Array>();

function extensionDer(extension: asn1X509.Extension): Uint8Array {
  let der = EXTENSION_DER.get(extension);
  if (der === undefined) {
    der = new Uint8Array(AsnConvert.serialize(extension));
    EXTENSION_DER.set(extension, der);
  }
  return der;
}

/** version [0] EXPLICIT INTEGER 2 (v3). */
const VERSION_V3 = Uint8Array.of(0xa0, 0x03, 0x02, 0x01, 0x02);

/**
 * The DER TBSCertificate (RFC 5280 4.1), framed by hand around the parts that vary. The serial is
 * positive with no leading zero (newSerial), so its bytes are the INTEGER's content as they are.
 */
export function tbsCertificateDer(content: CertificateContent, signer: Pick<SigningKey, 'nameDer' | 'algorithmIdentifierDer'>): Uint8Array {
  return derSequence(
    VERSION_V3,
    derTlv(0x02, content.serial),
    signer.algorithmIdentifierDer,
    signer.nameDer,
    derSequence(derTime(content.notBefore), derTime(content.notAfter)),
    new Uint8Array(AsnConvert.serialize(content.subject)),
    content.spkiDer,
    derTlv(0xa3, derSequence(...content.extensions.map(extensionDer))),
  );
}

/** Builds the TBSCertificate once and has the CA's signer (local key or KMS) sign it. */
async function signCertificate(content: CertificateContent, signer: SigningKey): Promise<Certificate> {
  const tbsDer = tbsCertificateDer(content, signer);
  const signature = await signer.signer.sign(tbsDer);
  const bitString = derTlv(0x03, Uint8Array.of(0), signature);
  return Certificate.fromIssued(derSequence(tbsDer, signer.algorithmIdentifierDer, bitString));
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING. */
function keyIdentifier(spkiDer: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(subjectPublicKeyBits(spkiDer)).digest());
}

function spkiDerOf(publicKey: KeyObject): Uint8Array {
  return new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
}

function subjectKeyIdExtension(keyId: Uint8Array): asn1X509.Extension {
  return extension(asn1X509.id_ce_subjectKeyIdentifier, false, new asn1X509.SubjectKeyIdentifier(keyId));
}

function authorityKeyIdExtension(keyId: Uint8Array): asn1X509.Extension {
  return extension(
    asn1X509.id_ce_authorityKeyIdentifier,
    false,
    new asn1X509.AuthorityKeyIdentifier({ keyIdentifier: new asn1X509.KeyIdentifier(keyId) }),
  );
}

const CA_EXTENSIONS = [
  parsedExtension(new x509.BasicConstraintsExtension(true, 0, true)),
  parsedExtension(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)),
];

export interface GenerateCaRequest {
  /** Lowercase letters, digits and dashes: it names secrets and the CA's subject. */
  authority: string;
  /** 1, 2, 3 ...: each generation gets its own subject and key. */
  generation: number;
  algorithm?: KeyAlgorithm;
  /** The instant of generation (the CA is valid from then). */
  now: number;
  lifetimeMs: number;
  random?: RandomSource;
  /** Written critical into the CA (RFC 5280 4.2.1.10); its leaves are then held to them. */
  nameConstraints?: NameConstraints;
}

/** One CA generation of an authority: its certificate and key. */
export interface CaGeneration {
  authority: string;
  generation: number;
  algorithm: KeyAlgorithm;
  certificate: Certificate;
  privateKey: KeyObject;
  certificatePem: string;
  privateKeyPem: string;
}

export function caSubject(authority: string, generation: number): string {
  return `CN=certrotate ${authority} CA ${generation}`;
}

function checkCaRequest(request: Omit<GenerateCaRequest, 'algorithm'>): void {
  const { authority, generation, lifetimeMs } = request;
  if (!AUTHORITY_NAME.test(authority)) {
    throw new ValidationError(
      `authority "${authority}" must be 1-63 lowercase letters, digits and dashes, starting and ending with a letter or digit`,
    );
  }
  if (!Number.isSafeInteger(generation) || generation < 1) {
    throw new ValidationError(`CA generation must be a positive integer, got ${generation}`);
  }
  if (!(lifetimeMs > 0)) throw new ValidationError(`CA lifetime must be positive, got ${lifetimeMs} ms`);
}

/**
 * A self-signed CA certificate for one generation of an authority, signed by `signer` (a local key,
 * or a key that never leaves KMS): critical basicConstraints CA:true with pathLen 0, critical
 * keyUsage keyCertSign + cRLSign, SKI, and AKI equal to the SKI; valid from CLOCK_SKEW_BACKDATE_MS
 * before `now` until `now + lifetimeMs`.
 */
export async function selfSignCa(request: Omit<GenerateCaRequest, 'algorithm'>, signer: CaSigner): Promise<Certificate> {
  checkCaRequest(request);
  const { now, lifetimeMs } = request;
  const spkiDer = spkiDerOf(signer.publicKey);
  const keyId = keyIdentifier(spkiDer);
  const name = parseSubject(caSubject(request.authority, request.generation));
  return signCertificate(
    {
      serial: newSerial(request.random ?? cryptoRandom),
      subject: name,
      // Backdated like leaves: a peer whose clock runs a few minutes slow must accept the CA, and
      // every leaf issued in the same instant (a leaf's notBefore is never before its CA's).
      notBefore: now - CLOCK_SKEW_BACKDATE_MS,
      notAfter: now + lifetimeMs,
      spkiDer,
      extensions: [...CA_EXTENSIONS, subjectKeyIdExtension(keyId), authorityKeyIdExtension(keyId), ...(request.nameConstraints === undefined ? [] : [nameConstraintsExtension(request.nameConstraints)])],
    },
    signingKey(name, signer),
  );
}

/** A CA generation with a new local key (the `secret` key store): see selfSignCa. */
export async function generateCa(request: GenerateCaRequest): Promise<CaGeneration> {
  const algorithm = request.algorithm ?? 'p256';
  checkCaRequest(request);
  const keys = await generateKeyPairFor(algorithm);
  const certificate = await selfSignCa(request, localSigner(keys.privateKey, algorithm));
  return {
    authority: request.authority,
    generation: request.generation,
    algorithm,
    certificate,
    privateKey: keys.privateKey,
    certificatePem: certificate.pem,
    privateKeyPem: privateKeyToPem(keys.privateKey),
  };
}

export type LeafUsage = 'server' | 'client' | 'both';

export interface LeafRequest {
  subject: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  uris?: readonly string[];
  usage: LeafUsage;
  lifetimeMs: number;
  /** The leaf's own key algorithm; defaults to P-256. */
  algorithm?: KeyAlgorithm;
}

export interface IssuedLeaf {
  certificate: Certificate;
  /** The certificate's notAfter, serial and SHA-256 fingerprint, known without parsing it. */
  notAfter: number;
  serialHex: string;
  fingerprintSha256: string;
  certificatePem: string;
  privateKey: KeyObject;
  privateKeyPem: string;
  /** True when the requested lifetime ran past the CA's notAfter and notAfter was cut to it. */
  clippedToIssuer: boolean;
}

const EKU_BY_USAGE: Record<LeafUsage, asn1X509.Extension> = {
  server: parsedExtension(new x509.ExtendedKeyUsageExtension([EKU_SERVER_AUTH])),
  client: parsedExtension(new x509.ExtendedKeyUsageExtension([EKU_CLIENT_AUTH])),
  both: parsedExtension(new x509.ExtendedKeyUsageExtension([EKU_SERVER_AUTH, EKU_CLIENT_AUTH])),
};
const LEAF_CONSTRAINTS = parsedExtension(new x509.BasicConstraintsExtension(false, undefined, true));
const EC_LEAF_KEY_USAGE = parsedExtension(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true));
const RSA_LEAF_KEY_USAGE = parsedExtension(
  new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
);

/**
 * SAN extensions already built, by their names: a renewal carries the same SANs as the leaf it
 * replaces, and building the extension cost more than the rest of the leaf's fields together.
 * Extensions are immutable values, shared like the constant ones above; the cache is emptied when
 * full, so it stays bounded whatever the fleet.
 */
const SAN_CACHE_LIMIT = 20_000;
const sanCache = new Map<string, asn1X509.Extension>();

function subjectAltNameExtension(request: LeafRequest): asn1X509.Extension | undefined {
  const names: x509.JsonGeneralNames = [];
  const add = (type: 'dns' | 'ip' | 'url', values: readonly string[] | undefined, problemOf: (value: string) => string | undefined, what: string) => {
    for (const value of values ?? []) {
      const problem = problemOf(value);
      if (problem !== undefined) throw new ValidationError(`${what} SAN "${value}" ${problem}`);
      names.push({ type, value });
    }
  };
  add('dns', request.dnsNames, dnsNameProblem, 'DNS');
  add('ip', request.ipAddresses, ipAddressProblem, 'IP');
  add('url', request.uris, uriProblem, 'URI');
  if (names.length === 0) return undefined;
  const key = JSON.stringify(names);
  let extension = sanCache.get(key);
  if (extension === undefined) {
    if (sanCache.size >= SAN_CACHE_LIMIT) sanCache.clear();
    extension = parsedExtension(new x509.SubjectAlternativeNameExtension(names));
    sanCache.set(key, extension);
  }
  return extension;
}

/**
 * A CA ready to issue leaves: its name, AKI and signing key prepared once, so each leaf costs a
 * key pair, one SHA-1 and one signature.
 */
export class Issuer {
  readonly certificate: Certificate;
  readonly algorithm: KeyAlgorithm;
  readonly #signer: SigningKey;
  /** Undefined for a CA without SKI (an adopted one may lack it): its leaves then carry no AKI. */
  readonly #authorityKeyId: asn1X509.Extension | undefined;
  readonly #nameConstraints: NameConstraints | undefined;

  constructor(certificate: Certificate, signer: CaSigner) {
    if (!certificate.isCa) {
      throw new NotACaError(`certificate ${certificate.describe()} is not a CA (no CA:true): it cannot issue leaves`);
    }
    if (!signer.publicKey.equals(certificate.publicKey)) {
      throw new KeyMismatchError(
        `the CA key (${signer.location}) does not belong to certificate ${certificate.describe()}: the key and certificate come from different generations`,
      );
    }
    this.certificate = certificate;
    this.algorithm = signer.algorithm;
    const caTbs = AsnConvert.parse(certificate.der, asn1X509.Certificate).tbsCertificate;
    this.#signer = signingKey(caTbs.subject, signer);
    const keyId = certificate.subjectKeyId;
    this.#authorityKeyId = keyId === undefined ? undefined : authorityKeyIdExtension(Buffer.from(keyId, 'hex'));
    this.#nameConstraints = caNameConstraints(caTbs.extensions);
  }

  /** Where the CA's key lives (never the key): `a local key`, a KMS key ARN. */
  get keyLocation(): string {
    return this.#signer.signer.location;
  }

  static fromCaGeneration(ca: CaGeneration): Issuer {
    return new Issuer(ca.certificate, localSigner(ca.privateKey, ca.algorithm));
  }

  /** An issuer from stored PEM; throws the typed error of whichever part is bad. */
  static fromPem(certificatePem: string, privateKeyPem: string): Issuer {
    const key = parsePrivateKey(privateKeyPem);
    return new Issuer(parseCertificate(certificatePem), localSigner(key.key, key.algorithm));
  }

  /**
   * Issues a leaf with a new key. notBefore is backdated for clock skew but never before the
   * CA's notBefore; notAfter is never later than the CA's notAfter (`clippedToIssuer` says so).
   */
  async issueLeaf(request: LeafRequest, now: number, random: RandomSource = cryptoRandom): Promise<IssuedLeaf> {
    if (!(request.lifetimeMs > 0)) {
      throw new ValidationError(`leaf lifetime must be positive, got ${request.lifetimeMs} ms`);
    }
    const ca = this.certificate;
    if (now > ca.notAfter) {
      throw new ValidationError(`CA ${ca.describe()} expired at ${new Date(ca.notAfter).toISOString()}: it cannot issue`);
    }
    const subject = parseSubject(request.subject);
    const subjectAltName = subjectAltNameExtension(request);
    assertLeafWithinNameConstraints(this.#nameConstraints, request, ca.describe());
    const algorithm = request.algorithm ?? 'p256';
    const keys = await generateKeyPairFor(algorithm);
    const spkiDer = spkiDerOf(keys.publicKey);
    const requestedNotAfter = now + request.lifetimeMs;
    // X.509 times have whole seconds.
    const notAfter = Math.floor(Math.min(requestedNotAfter, ca.notAfter) / 1000) * 1000;
    const serial = newSerial(random);
    const extensions = [
      LEAF_CONSTRAINTS,
      isRsa(algorithm) ? RSA_LEAF_KEY_USAGE : EC_LEAF_KEY_USAGE,
      EKU_BY_USAGE[request.usage],
      subjectKeyIdExtension(keyIdentifier(spkiDer)),
    ];
    if (this.#authorityKeyId !== undefined) extensions.push(this.#authorityKeyId);
    if (subjectAltName !== undefined) extensions.push(subjectAltName);
    const certificate = await signCertificate(
      {
        serial,
        subject,
        notBefore: Math.max(now - CLOCK_SKEW_BACKDATE_MS, ca.notBefore),
        notAfter,
        spkiDer,
        extensions,
      },
      this.#signer,
    );
    return {
      certificate,
      notAfter,
      serialHex: Buffer.from(serial).toString('hex'),
      fingerprintSha256: createHash('sha256').update(certificate.der).digest('hex'),
      certificatePem: certificate.pem,
      privateKey: keys.privateKey,
      privateKeyPem: privateKeyToPem(keys.privateKey),
      clippedToIssuer: notAfter < Math.floor(requestedNotAfter / 1000) * 1000,
    };
  }
}
