/**
 * A CA and leaves made the way a cluster made them before certrotate: with the `openssl` command
 * line, as kubeadm's documented manual procedure does (a self-signed CA, then each leaf signed from
 * a CSR). Both are signed with `openssl ca` rather than `openssl req -x509` / `openssl x509 -req`:
 * the simulation runs on its own clock, and `openssl ca` takes explicit dates (`-startdate`,
 * `-enddate`) where OpenSSL 3.0's `-days` counts from the wall clock. The certificates are the
 * same either way (same extensions, DN as given, SHA-256, a random serial for the CA, the given one
 * for a leaf, UTCTime dates); only the `openssl` Debian package is needed. A missing `openssl` is a
 * clear error, never a silent fallback to lib/pki, which would no longer prove that certrotate
 * adopts certificates it did not make.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type OpensslKey = 'p256' | 'p384' | 'p521' | 'rsa1024' | 'rsa2048' | 'rsa3072' | 'rsa4096';

export interface PemPair {
  certificatePem: string;
  privateKeyPem: string;
}

export class OpensslMissingError extends Error {
  override name = 'OpensslMissingError';
}

const KEY_ARGS: Record<OpensslKey, string[]> = {
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  p521: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  rsa1024: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024'],
  rsa2048: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  rsa3072: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:3072'],
  rsa4096: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096'],
};

/** kubeadm's CA: basicConstraints CA:true, keyUsage with keyCertSign, SKI, AKI. */
export const KUBEADM_CA_EXTENSIONS = [
  'basicConstraints = critical, CA:true',
  'keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
];

/** Throws OpensslMissingError naming what to install when `openssl` cannot be run. */
export async function assertOpensslTools(): Promise<void> {
  try {
    await run('openssl', ['version']);
  } catch (cause) {
    throw new OpensslMissingError(
      `adopting a CA made with openssl needs the \`openssl\` command, which cannot be run here (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}): ` +
        'install it (Debian/Ubuntu: apt-get install openssl; .ci/run does)',
      { cause },
    );
  }
}

/** `openssl ca`'s date form, to the second: YYYYMMDDHHMMSSZ (written as UTCTime up to 2049, as `-days` would). */
function stamp(at: number): string {
  return `${new Date(at).toISOString().slice(0, 19).replace(/[-T:]/g, '')}Z`;
}

/**
 * The minimal `openssl ca` setup in `dir`: an empty index.txt database and a serial file holding
 * `serialHex` (or any, with `-rand_serial`), the subject kept as the CSR has it (`preserve`), no
 * policy field required. `[req]` serves the CSRs.
 */
async function caConfig(dir: string, serialHex = '01'): Promise<string> {
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial'), `${serialHex.length % 2 === 0 ? serialHex : `0${serialHex}`}\n`);
  const config = join(dir, 'ca.cnf');
  await writeFile(
    config,
    ['[req]', 'distinguished_name = dn', '[dn]', '[ca]', `database = ${join(dir, 'index.txt')}`, `serial = ${join(dir, 'serial')}`, `new_certs_dir = ${dir}`,
      'unique_subject = no', 'preserve = yes', 'policy = policy', '[policy]', 'commonName = optional', ''].join('\n'),
  );
  return config;
}

/** Signs `csr` with `openssl ca` from `at` for `days`, with the extensions of section `ext` in `extfile`. */
async function signWithCa(config: string, csr: string, out: string, at: number, days: number, extfile: string, signer: string[]): Promise<void> {
  await run('openssl', [
    'ca', '-batch', '-notext', '-config', config, '-name', 'ca', '-md', 'sha256', '-in', csr, ...signer,
    '-startdate', stamp(at), '-enddate', stamp(at + days * 86_400_000), '-extfile', extfile, '-extensions', 'ext', '-out', out,
  ]);
}

/** `CN=a,O=b` to OpenSSL's `/CN=a/O=b`. */
function opensslSubject(subject: string): string {
  return `/${subject.split(',').map((part) => part.trim()).join('/')}`;
}

async function inTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'certrotate-openssl-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function generateKey(dir: string, key: OpensslKey): Promise<string> {
  const path = join(dir, 'key.pem');
  await run('openssl', ['genpkey', ...KEY_ARGS[key], '-out', path]);
  return path;
}

/** A self-signed CA made with `openssl ca -selfsign` (a random serial, as `openssl req -x509` gives), valid `days` from `at`. */
export async function opensslCa(options: { subject: string; at: number; days: number; key?: OpensslKey; extensions?: readonly string[] }): Promise<PemPair> {
  return inTempDir(async (dir) => {
    const key = await generateKey(dir, options.key ?? 'p256');
    const config = await caConfig(dir);
    const extfile = join(dir, 'ext.cnf');
    await writeFile(extfile, ['[ext]', ...(options.extensions ?? KUBEADM_CA_EXTENSIONS), ''].join('\n'));
    const csr = join(dir, 'ca.csr');
    await run('openssl', ['req', '-new', '-config', config, '-key', key, '-subj', opensslSubject(options.subject), '-out', csr]);
    const out = join(dir, 'ca.crt');
    await signWithCa(config, csr, out, options.at, options.days, extfile, ['-selfsign', '-keyfile', key, '-rand_serial']);
    return { certificatePem: await readFile(out, 'utf8'), privateKeyPem: await readFile(key, 'utf8') };
  });
}

export interface OpensslLeafRequest {
  subject: string;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  usage: 'server' | 'client' | 'both';
  at: number;
  days: number;
  key?: OpensslKey;
  /** 16 hex digits or more, written to the serial file `openssl ca` takes it from. */
  serialHex: string;
  /** Instead of a kubeadm leaf's extensions (an intermediate CA, a leaf with no AKI); the SANs are added still. */
  extensions?: readonly string[];
}

const EKU: Record<OpensslLeafRequest['usage'], string> = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth, clientAuth' };

/** A leaf signed by `ca` from a CSR with `openssl ca`, as kubeadm's manual procedure signs them. */
export async function opensslLeaf(ca: PemPair, request: OpensslLeafRequest): Promise<PemPair> {
  return inTempDir(async (dir) => {
    const key = await generateKey(dir, request.key ?? 'p256');
    await writeFile(join(dir, 'ca.crt'), ca.certificatePem);
    await writeFile(join(dir, 'ca.key'), ca.privateKeyPem, { mode: 0o600 });
    const altNames = [...(request.dnsNames ?? []).map((name) => `DNS:${name}`), ...(request.ipAddresses ?? []).map((address) => `IP:${address}`)];
    const extensions = [
      '[ext]',
      ...(request.extensions ?? [
        'basicConstraints = critical, CA:false',
        'keyUsage = critical, digitalSignature, keyEncipherment',
        `extendedKeyUsage = ${EKU[request.usage]}`,
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
      ]),
      ...(altNames.length > 0 ? [`subjectAltName = ${altNames.join(', ')}`] : []),
      '',
    ];
    await writeFile(join(dir, 'ext.cnf'), extensions.join('\n'));
    const config = await caConfig(dir, request.serialHex);
    const csr = join(dir, 'leaf.csr');
    await run('openssl', ['req', '-new', '-key', key, '-subj', opensslSubject(request.subject), '-out', csr]);
    const out = join(dir, 'leaf.crt');
    await signWithCa(config, csr, out, request.at, request.days, join(dir, 'ext.cnf'), ['-cert', join(dir, 'ca.crt'), '-keyfile', join(dir, 'ca.key')]);
    return { certificatePem: await readFile(out, 'utf8'), privateKeyPem: await readFile(key, 'utf8') };
  });
}
