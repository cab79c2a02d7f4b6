import { constants, randomBytes, type X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { ChainCache, LruMap, type Purpose } from '../pki/index.js';

/** What one side of a TLS connection presents and trusts, all PEM. */
export interface TlsIdentity {
  /** Leaf first, then any chain. */
  certificatePem: string;
  privateKeyPem: string;
  /** The bundle this side verifies its peer against. */
  bundlePem: string;
}

export type HandshakeResult =
  | { ok: true; protocol: string; serverPeerSubject: string; clientPeerSubject: string }
  | { ok: false; error: string };

export interface HandshakeOptions {
  serverName?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /**
   * Judge certificate validity at this instant instead of the wall clock (for simulated time).
   * OpenSSL still builds and checks each chain; only its date errors are set aside, and both
   * peer chains are then verified with lib/pki at `at` (dates, signatures, EKU).
   */
  at?: number;
  /** Where chains verified at `at` are remembered; pass one to share it across many handshakes. */
  chains?: ChainCache;
}

type Versions = { minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion };

/** OpenSSL's verdicts about dates: the only ones set aside when time is simulated. */
const DATE_ERRORS = new Set(['CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED']);

/**
 * Secure contexts (certificate, key and bundle loaded into OpenSSL) kept per identity, for either
 * side: a pair handshakes many times with the same material, and loading it is most of a
 * handshake's CPU. Bounded, least recently used first out: each holds about 32 KB of OpenSSL's
 * memory, and a thread of the simulation's traffic needs about one per leaf it handshakes for.
 */
const CONTEXTS = new LruMap<string, tls.SecureContext>(1024);

function secureContextOf(identity: TlsIdentity, versions: Versions): tls.SecureContext {
  const key = [identity.certificatePem, identity.privateKeyPem, identity.bundlePem, versions.minVersion, versions.maxVersion].join('\n');
  return CONTEXTS.getOrSet(key, () => tls.createSecureContext({ cert: identity.certificatePem, key: identity.privateKeyPem, ca: identity.bundlePem, ...versions }));
}

function commonName(certificate: X509Certificate | undefined): string {
  const line = certificate?.subject.split('\n').find((part) => part.startsWith('CN='));
  return line === undefined ? 'undefined' : line.slice('CN='.length);
}

/** `tls.checkServerIdentity` on the parsed peer (the two fields it reads), without the legacy certificate object. */
function serverIdentityProblem(serverName: string, peer: X509Certificate | undefined): string | undefined {
  if (peer === undefined) return 'peer sent no certificate';
  const legacy = { subject: { CN: commonName(peer) }, subjectaltname: peer.subjectAltName ?? '' } as unknown as tls.PeerCertificate;
  return tls.checkServerIdentity(serverName, legacy)?.message;
}

/**
 * The verdict on `peer`, the certificate the other side of `socket` presented: undefined when it
 * is acceptable, else why not. With `at`, OpenSSL's date errors are replaced by lib/pki's
 * verification at that instant.
 */
function judgePeer(socket: tls.TLSSocket, peer: X509Certificate | undefined, bundlePem: string, purpose: Purpose, at: number | undefined, chains: ChainCache): string | undefined {
  const error = socket.authorizationError;
  if (at === undefined) return socket.authorized ? undefined : String(error ?? 'peer not authorized');
  const code = typeof error === 'string' ? error : (error as (Error & { code?: string }) | null)?.code;
  if (error !== null && error !== undefined && !DATE_ERRORS.has(String(code ?? error))) return String(code ?? error);
  if (peer === undefined) return 'peer sent no certificate';
  const verdict = chains.verify(peer.toString(), bundlePem, purpose, at);
  return verdict.ok ? undefined : verdict.reason;
}

/** One handshake the shared server expects: what it presents and how it judges the client. */
interface Expected {
  server: TlsIdentity;
  context: tls.SecureContext;
  at: number | undefined;
  chains: ChainCache;
  errors: string[];
  clientSubject: string;
}

/**
 * The server side of every handshake of one mode (simulated time or not, TLS versions) in this
 * thread: one loopback TLS server, listening once. Each handshake's client names its handshake by
 * SNI (a name made for it); the server answers with that handshake's material and records its
 * verdict there. A connection that names no expected handshake (someone else's on the port, a
 * client without SNI) is refused and counted against nobody. A server per handshake cost a
 * listening socket and a fresh OpenSSL context each time: most of a handshake's CPU.
 */
class HandshakeHost {
  readonly #expected = new Map<string, Expected>();
  readonly #server: tls.Server;
  readonly listening: Promise<number>;
  #next = 0;
  /** Unguessable, so that another local process cannot answer for (and spoil) a handshake in flight. */
  readonly #token = randomBytes(8).toString('hex');

  constructor(versions: Versions, strict: boolean) {
    this.#server = tls.createServer({
      SNICallback: (name, done) => {
        const expected = this.#expected.get(name);
        if (expected === undefined) done(new Error(`no handshake expects the server name ${name}`));
        else done(null, expected.context);
      },
      requestCert: true,
      rejectUnauthorized: strict,
      // No stateless session tickets: no client resumes, and making each one copied the session
      // (peer certificate included) through OpenSSL's slow decoders, about a tenth of a handshake.
      secureOptions: constants.SSL_OP_NO_TICKET,
      ...versions,
    });
    this.#server.on('secureConnection', (socket) => {
      const expected = this.#expectedBy(socket);
      if (expected === undefined) {
        socket.destroy();
        return;
      }
      const peer = socket.getPeerX509Certificate();
      const verdict = judgePeer(socket, peer, expected.server.bundlePem, 'clientAuth', expected.at, expected.chains);
      if (verdict === undefined) {
        expected.clientSubject = commonName(peer);
        socket.end();
      } else {
        expected.errors.push(`server: ${verdict}`);
        socket.destroy();
      }
    });
    this.#server.on('tlsClientError', (error, socket) => this.#expectedBy(socket)?.errors.push(`server: ${error.message}`));
    // Kept for the life of the thread, without keeping it alive.
    this.#server.unref();
    this.#server.listen(0, '127.0.0.1');
    this.listening = once(this.#server, 'listening').then(() => (this.#server.address() as AddressInfo).port);
  }

  #expectedBy(socket: tls.TLSSocket): Expected | undefined {
    return typeof socket.servername === 'string' ? this.#expected.get(socket.servername) : undefined;
  }

  /** Expects one handshake presenting `server`; returns the server name its client must send. */
  expect(server: TlsIdentity, context: tls.SecureContext, at: number | undefined, chains: ChainCache): { name: string; expected: Expected } {
    const name = `handshake-${this.#next++}-${this.#token}.certrotate.invalid`;
    const expected: Expected = { server, context, at, chains, errors: [], clientSubject: '' };
    this.#expected.set(name, expected);
    return { name, expected };
  }

  forget(name: string): void {
    this.#expected.delete(name);
  }
}

const HOSTS = new Map<string, HandshakeHost>();

function hostFor(versions: Versions, strict: boolean): HandshakeHost {
  const key = [strict, versions.minVersion, versions.maxVersion].join('|');
  let host = HOSTS.get(key);
  if (host === undefined) {
    host = new HandshakeHost(versions, strict);
    HOSTS.set(key, host);
  }
  return host;
}

/**
 * One real mutual-TLS handshake over loopback with Node's `tls`: the server requires a client
 * certificate, both sides verify the peer against their own bundle (see `at` for simulated time).
 * The server's identity is checked against `serverName`, whatever name was sent by SNI.
 */
export async function mutualTlsHandshake(server: TlsIdentity, client: TlsIdentity, options: HandshakeOptions = {}): Promise<HandshakeResult> {
  const versions: Versions = {
    ...(options.minVersion ? { minVersion: options.minVersion } : {}),
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
  };
  const strict = options.at === undefined;
  const chains = options.chains ?? new ChainCache();
  const host = hostFor(versions, strict);
  const port = await host.listening;
  const { name, expected } = host.expect(server, secureContextOf(server, versions), options.at, chains);
  const serverName = options.serverName ?? 'localhost';
  try {
    return await new Promise<HandshakeResult>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername: name,
        secureContext: secureContextOf(client, versions),
        rejectUnauthorized: strict,
        checkServerIdentity: (_sent, peer) => tls.checkServerIdentity(serverName, peer),
      });
      const fail = (error: string) => resolve({ ok: false, error: [...expected.errors, error].filter((part) => part !== '').join('; ') });
      socket.once('secureConnect', () => {
        const protocol = socket.getProtocol() ?? 'unknown';
        const peer = socket.getPeerX509Certificate();
        const verdict = strict ? undefined : (judgePeer(socket, peer, client.bundlePem, 'serverAuth', options.at, chains) ?? serverIdentityProblem(serverName, peer));
        if (verdict !== undefined) {
          socket.destroy();
          fail(`client: ${verdict}`);
          return;
        }
        // TLS 1.3 sends the client certificate after the client's Finished: wait for the server's
        // verdict (it closes cleanly on success, aborts on failure).
        socket.once('end', () =>
          expected.errors.length === 0 ? resolve({ ok: true, protocol, serverPeerSubject: commonName(peer), clientPeerSubject: expected.clientSubject }) : fail(''),
        );
        socket.once('close', () => expected.errors.length > 0 && fail(''));
        socket.resume();
      });
      socket.once('error', (error: Error) => fail(`client: ${error.message}`));
    });
  } finally {
    host.forget(name);
  }
}
