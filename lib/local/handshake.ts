import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';

/** What one side of a TLS connection presents and trusts, all PEM. */
export interface TlsIdentity {
  /** Leaf first, then any chain. */
  certificatePem: string;
  privateKeyPem: string;
  /** The bundle this side verifies its peer against. */
  bundlePem: string;
}

function commonName(certificate: tls.PeerCertificate): string {
  return String(certificate.subject.CN);
}

export type HandshakeResult =
  | { ok: true; protocol: string; serverPeerSubject: string; clientPeerSubject: string }
  | { ok: false; error: string };

/**
 * One real mutual-TLS handshake over loopback with Node's `tls`: the server requires a client
 * certificate, both sides verify the peer against their own bundle. Node judges validity against
 * the wall clock; callers that simulate time verify the peer chains with lib/pki at their instant.
 */
export async function mutualTlsHandshake(
  server: TlsIdentity,
  client: TlsIdentity,
  options: { serverName?: string; minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion } = {},
): Promise<HandshakeResult> {
  const serverSide = tls.createServer({
    cert: server.certificatePem,
    key: server.privateKeyPem,
    ca: server.bundlePem,
    requestCert: true,
    rejectUnauthorized: true,
    ...(options.minVersion ? { minVersion: options.minVersion } : {}),
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
  });
  const serverErrors: string[] = [];
  let clientPeerSubject = '';
  serverSide.on('secureConnection', (socket) => {
    clientPeerSubject = commonName(socket.getPeerCertificate());
    socket.end();
  });
  serverSide.on('tlsClientError', (error) => serverErrors.push(`server: ${error.message}`));
  serverSide.listen(0, '127.0.0.1');
  await once(serverSide, 'listening');
  const { port } = serverSide.address() as AddressInfo;
  try {
    return await new Promise<HandshakeResult>((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        servername: options.serverName ?? 'localhost',
        cert: client.certificatePem,
        key: client.privateKeyPem,
        ca: client.bundlePem,
        rejectUnauthorized: true,
        ...(options.minVersion ? { minVersion: options.minVersion } : {}),
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
      });
      socket.once('secureConnect', () => {
        const protocol = socket.getProtocol() ?? 'unknown';
        const serverPeerSubject = commonName(socket.getPeerCertificate());
        // TLS 1.3 sends the client certificate after the client's Finished: wait for the server's
        // verdict (it closes cleanly on success, aborts with an alert on failure).
        socket.once('end', () =>
          resolve(
            serverErrors.length === 0
              ? { ok: true, protocol, serverPeerSubject, clientPeerSubject }
              : { ok: false, error: serverErrors.join('; ') },
          ),
        );
        socket.resume();
      });
      socket.once('error', (error: Error) => {
        resolve({ ok: false, error: [...serverErrors, `client: ${error.message}`].join('; ') });
      });
    });
  } finally {
    serverSide.close();
  }
}
