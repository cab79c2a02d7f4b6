/**
 * A CA and leaves made the way a cluster made them before certrotate: with the `openssl` command
 * line, as kubeadm's documented manual procedure does (`openssl req -x509` for the CA, `openssl x509
 * -req` for each leaf). Dates are set with `faketime`, since OpenSSL 3.0's `-days` counts from the
 * wall clock and the simulation runs on its own clock. Both tools are Debian packages (`openssl`,
 * `faketime`); a missing one is a clear error, never a silent fallback to lib/pki, which would no
 * longer prove that certrotate adopts certificates it did not make.
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

/** Throws OpensslMissingError naming what to install when `openssl` or `faketime` cannot be run. */
export async function assertOpensslTools(): Promise<void> {
  for (const [tool, args] of [['openssl', ['version']], ['faketime', ['2027-01-01 UTC', 'true']]] as const) {
    try {
      await run(tool, [...args]);
    } catch (cause) {
      throw new OpensslMissingError(
        `adopting a CA made with openssl needs the \`${tool}\` command, which cannot be run here (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}): ` +
          `install it (Debian/Ubuntu: apt-get install ${tool}; .ci/run does)`,
        { cause },
      );
    }
  }
}

function stamp(at: number): string {
  return `${new Date(at).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
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

/** A self-signed CA made with `openssl req -x509`, valid `days` from `at`. */
export async function opensslCa(options: { subject: string; at: number; days: number; key?: OpensslKey; extensions?: readonly string[] }): Promise<PemPair> {
  return inTempDir(async (dir) => {
    const key = await generateKey(dir, options.key ?? 'p256');
    const config = join(dir, 'req.cnf');
    const extensions = options.extensions ?? KUBEADM_CA_EXTENSIONS;
    await writeFile(config, ['[req]', 'distinguished_name = dn', 'x509_extensions = ext', '[dn]', '[ext]', ...extensions, ''].join('\n'));
    const out = join(dir, 'ca.crt');
    const days = String(options.days);
    await run('faketime', [stamp(options.at), 'openssl', 'req', '-x509', '-new', '-config', config, '-key', key, '-subj', opensslSubject(options.subject), '-days', days, '-out', out]);
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
  /** 16 hex digits or more; OpenSSL picks none by itself with `-set_serial`. */
  serialHex: string;
  /** Instead of a kubeadm leaf's extensions (an intermediate CA, a leaf with no AKI); the SANs are added still. */
  extensions?: readonly string[];
}

const EKU: Record<OpensslLeafRequest['usage'], string> = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth, clientAuth' };

/** A leaf signed by `ca` with `openssl x509 -req`, as kubeadm's manual procedure signs them. */
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
    const csr = join(dir, 'leaf.csr');
    await run('openssl', ['req', '-new', '-key', key, '-subj', opensslSubject(request.subject), '-out', csr]);
    const out = join(dir, 'leaf.crt');
    await run('faketime', [
      stamp(request.at), 'openssl', 'x509', '-req', '-in', csr, '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
      '-set_serial', `0x${request.serialHex}`, '-days', String(request.days), '-extfile', join(dir, 'ext.cnf'), '-extensions', 'ext', '-out', out,
    ]);
    return { certificatePem: await readFile(out, 'utf8'), privateKeyPem: await readFile(key, 'utf8') };
  });
}
