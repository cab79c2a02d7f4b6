import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { mutualTlsHandshake, type TlsIdentity } from '../../lib/local/handshake.js';
import { Issuer, generateCa } from '../../lib/pki/index.js';
import { DAY } from '../support/pki.js';

const NOW = Date.UTC(2027, 0, 1);

/** Someone else's connection to a port: a plain HTTP request, or a TLS client with no certificate. */
type Intruder = (port: number) => Promise<void>;

const plainHttp: Intruder = async (port) => {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  socket.resume();
  await once(socket, 'close');
};

const tlsWithoutCertificate: Intruder = async (port) => {
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  // Without SNI it gets no server certificate: refused with an alert, then closed.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.on('error', () => undefined);
  socket.resume();
  await closed;
};

/**
 * Makes the next handshake server announce that it listens only once `intruder` has connected to
 * its port and the server is done with it: the port collision forced, before the pair's client.
 */
function intrudeOnNextServer(intruder: Intruder): void {
  const createServer = tls.createServer.bind(tls);
  vi.spyOn(tls, 'createServer').mockImplementationOnce((options) => {
    const server = createServer(options);
    const emit = server.emit.bind(server);
    server.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event !== 'listening') return emit(event, ...args);
      void intruder((server.address() as net.AddressInfo).port).then(() => emit('listening'));
      return true;
    }) as typeof server.emit;
    return server;
  });
}

interface Identities {
  server: TlsIdentity;
  client: TlsIdentity;
  /** A client whose certificate the server's bundle does not trust. */
  stranger: TlsIdentity;
}

/** A server and client of one CA, and a stranger of another, all valid from a day before `now`. */
async function identities(now: number): Promise<Identities> {
  const ca = await generateCa({ authority: 'etcd', generation: 1, now: now - DAY, lifetimeMs: 90 * DAY });
  const other = await generateCa({ authority: 'other', generation: 1, now: now - DAY, lifetimeMs: 90 * DAY });
  const leaf = async (issuer: Issuer, cn: string, usage: 'server' | 'client'): Promise<TlsIdentity> => {
    const issued = await issuer.issueLeaf({ subject: `CN=${cn}`, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage, lifetimeMs: 30 * DAY }, now - DAY);
    return { certificatePem: issued.certificatePem, privateKeyPem: issued.privateKeyPem, bundlePem: ca.certificatePem };
  };
  const [server, client, stranger] = await Promise.all([
    leaf(Issuer.fromCaGeneration(ca), 'etcd-1', 'server'),
    leaf(Issuer.fromCaGeneration(ca), 'etcd-2', 'client'),
    leaf(Issuer.fromCaGeneration(other), 'stranger', 'client'),
  ]);
  return { server, client, stranger };
}

describe('mutualTlsHandshake', () => {
  let simulated: Identities;
  let wallClock: Identities;

  beforeAll(async () => {
    [simulated, wallClock] = await Promise.all([identities(NOW), identities(Date.now())]);
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each([
    ['a plain HTTP request (a port reused from an HTTP endpoint)', plainHttp],
    ['a TLS client with no certificate (a port reused from an HTTPS endpoint)', tlsWithoutCertificate],
  ])('judges only the connection its own client opened: %s to the server first is no failure', async (_name, intruder) => {
    intrudeOnNextServer(intruder);
    const result = await mutualTlsHandshake(simulated.server, simulated.client, { at: NOW });
    expect(tls.createServer).toHaveBeenCalledTimes(1);
    expect(result).toMatchObject({ ok: true, serverPeerSubject: 'etcd-1', clientPeerSubject: 'etcd-2' });
  });

  it('still fails when its own client is refused, whatever came to the port first', async () => {
    intrudeOnNextServer(plainHttp);
    const result = await mutualTlsHandshake(simulated.server, simulated.stranger, { at: NOW });
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/^server: /) as unknown });
    expect(result.ok === false && result.error).not.toMatch(/http request/);
  });

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('still reports the server refusing its own client on %s with OpenSSL judging (no simulated time)', async (version) => {
    intrudeOnNextServer(plainHttp);
    const result = await mutualTlsHandshake(wallClock.server, wallClock.stranger, { minVersion: version, maxVersion: version });
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/^server: /) as unknown });
    expect(result.ok === false && result.error).not.toMatch(/http request/);
  });

  it('passes and fails without any intruder, at the simulated instant', async () => {
    expect(await mutualTlsHandshake(simulated.server, simulated.client, { at: NOW })).toMatchObject({ ok: true, clientPeerSubject: 'etcd-2' });
    expect(await mutualTlsHandshake(simulated.server, simulated.client, { at: NOW + 60 * DAY })).toMatchObject({ ok: false });
    expect(await mutualTlsHandshake(simulated.server, simulated.stranger, { at: NOW })).toMatchObject({ ok: false, error: expect.stringMatching(/server: /) as unknown });
  });
});
