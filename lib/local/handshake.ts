import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { ChainCache, type Purpose } from '../pki/index.js';

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

/** OpenSSL's verdicts about dates: the only ones set aside when time is simulated. */
const DATE_ERRORS = new Set(['CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED']);

/**
 * Secure contexts (certificate, key and bundle loaded into OpenSSL) kept per identity, for either
 * side: a pair handshakes many times with the same material, and loading it is most of a
 * handshake's CPU. Bounded: cleared when full.
 */
const CONTEXTS = new Map<string, tls.SecureContext>();

function secureContextOf(identity: TlsIdentity, versions: { minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion }): tls.SecureContext {
  const key = [identity.certificatePem, identity.privateKeyPem, identity.bundlePem, versions.minVersion, versions.maxVersion].join('\n');
  let context = CONTEXTS.get(key);
  if (context === undefined) {
    if (CONTEXTS.size >= 1000) CONTEXTS.clear();
    context = tls.createSecureContext({ cert: identity.certificatePem, key: identity.privateKeyPem, ca: identity.bundlePem, ...versions });
    CONTEXTS.set(key, context);
  }
  return context;
}

function commonName(certificate: tls.PeerCertificate): string {
  return String(certificate.subject.CN);
}

/**
 * The verdict on the peer of `socket`: undefined when it is acceptable, else why not. With `at`,
 * OpenSSL's date errors are replaced by lib/pki's verification at that instant.
 */
function judgePeer(socket: tls.TLSSocket, bundlePem: string, purpose: Purpose, at: number | undefined, chains: ChainCache): string | undefined {
  const error = socket.authorizationError;
  if (at === undefined) return socket.authorized ? undefined : String(error ?? 'peer not authorized');
  const code = typeof error === 'string' ? error : (error as (Error & { code?: string }) | null)?.code;
  if (error !== null && error !== undefined && !DATE_ERRORS.has(String(code ?? error))) return String(code ?? error);
  const peer = socket.getPeerX509Certificate();
  if (peer === undefined) return 'peer sent no certificate';
  const verdict = chains.verify(peer.toString(), bundlePem, purpose, at);
  return verdict.ok ? undefined : verdict.reason;
}

/**
 * The server of one handshake, judging each connection it accepts. It listens on a free loopback
 * port, which is anyone's: a port just given up by an HTTP endpoint that a client still retries, or
 * one another process on the machine picked and is polling. So each verdict is kept under the
 * connection's client port, and a handshake reads only those of the connection its own client
 * opened: a stranger's connection is turned away, never counted as this pair's failure.
 */
function handshakeServer(server: TlsIdentity, versions: { minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion }, at: number | undefined, chains: ChainCache) {
  // The server's material comes from the kept contexts through SNI (the client always names the
  // server): createServer would load it into a new context for every handshake.
  const context = secureContextOf(server, versions);
  const serverSide = tls.createServer({
    SNICallback: (_name, done) => done(null, context),
    requestCert: true,
    rejectUnauthorized: at === undefined,
    ...versions,
  });
  const errors = new Map<number | undefined, string[]>();
  const subjects = new Map<number | undefined, string>();
  const record = (clientPort: number | undefined, error: string) => errors.set(clientPort, [...(errors.get(clientPort) ?? []), `server: ${error}`]);
  serverSide.on('secureConnection', (socket) => {
    const verdict = judgePeer(socket, server.bundlePem, 'clientAuth', at, chains);
    if (verdict === undefined) {
      subjects.set(socket.remotePort, commonName(socket.getPeerCertificate()));
      socket.end();
    } else {
      record(socket.remotePort, verdict);
      socket.destroy();
    }
  });
  serverSide.on('tlsClientError', (error, socket) => record(socket.remotePort, error.message));
  return {
    serverSide,
    /** What the server said of the connection from `clientPort` (the pair's own client). */
    // An error whose connection's port could not be read is counted: never hide a failure of ours.
    errorsOf: (clientPort: number | undefined): string[] => [...(clientPort === undefined ? [] : (errors.get(clientPort) ?? [])), ...(errors.get(undefined) ?? [])],
    subjectOf: (clientPort: number | undefined): string => (clientPort === undefined ? '' : (subjects.get(clientPort) ?? '')),
  };
}

/**
 * One real mutual-TLS handshake over loopback with Node's `tls`: the server requires a client
 * certificate, both sides verify the peer against their own bundle (see `at` for simulated time).
 * Only the connection the pair's client opened is judged (see handshakeServer).
 */
export async function mutualTlsHandshake(server: TlsIdentity, client: TlsIdentity, options: HandshakeOptions = {}): Promise<HandshakeResult> {
  const versions = {
    ...(options.minVersion ? { minVersion: options.minVersion } : {}),
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
  };
  const strict = options.at === undefined;
  const chains = options.chains ?? new ChainCache();
  const { serverSide, errorsOf, subjectOf } = handshakeServer(server, versions, options.at, chains);
  serverSide.listen(0, '127.0.0.1');
  await once(serverSide, 'listening');
  const { port } = serverSide.address() as AddressInfo;
  const serverName = options.serverName ?? 'localhost';
  try {
    return await new Promise<HandshakeResult>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername: serverName,
        secureContext: secureContextOf(client, versions),
        rejectUnauthorized: strict,
      });
      // This connection's own port, as the server sees it: read once connected, kept after close.
      let ownPort: number | undefined;
      socket.once('connect', () => (ownPort = socket.localPort));
      const fail = (error: string) => resolve({ ok: false, error: [...errorsOf(ownPort), error].filter((part) => part !== '').join('; ') });
      socket.once('secureConnect', () => {
        const protocol = socket.getProtocol() ?? 'unknown';
        const peer = socket.getPeerCertificate();
        const verdict = strict ? undefined : (judgePeer(socket, client.bundlePem, 'serverAuth', options.at, chains) ?? tls.checkServerIdentity(serverName, peer)?.message);
        if (verdict !== undefined) {
          socket.destroy();
          fail(`client: ${verdict}`);
          return;
        }
        // TLS 1.3 sends the client certificate after the client's Finished: wait for the server's
        // verdict (it closes cleanly on success, aborts on failure).
        socket.once('end', () =>
          errorsOf(ownPort).length === 0 ? resolve({ ok: true, protocol, serverPeerSubject: commonName(peer), clientPeerSubject: subjectOf(ownPort) }) : fail(''),
        );
        socket.once('close', () => errorsOf(ownPort).length > 0 && fail(''));
        socket.resume();
      });
      socket.once('error', (error: Error) => fail(`client: ${error.message}`));
    });
  } finally {
    serverSide.close();
  }
}
