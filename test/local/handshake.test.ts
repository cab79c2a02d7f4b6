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

/** A TLS client that sends a server name no handshake expects (a stranger guessing). */
const tlsWithUnknownName: Intruder = async (port) => {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'handshake-999999.certrotate.invalid', rejectUnauthorized: false });
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.on('error', () => undefined);
  socket.resume();
  await closed;
};

/** The port of the server that handshakes of these options share, read off the client of one. */
async function sharedServerPort(ids: { server: TlsIdentity; client: TlsIdentity }, options: Parameters<typeof mutualTlsHandshake>[2]): Promise<number> {
  const connect = vi.spyOn(tls, 'connect');
  await mutualTlsHandshake(ids.server, ids.client, options);
  const port = (connect.mock.calls[0]?.[0] as tls.ConnectionOptions | undefined)?.port;
  connect.mockRestore();
  if (port === undefined) throw new Error('the handshake opened no connection');
  return port;
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
    ['a TLS client with no certificate and no server name', tlsWithoutCertificate],
    ['a TLS client naming a handshake that is not expected', tlsWithUnknownName],
  ])('judges only the connection its own client opened: %s on the server port is no failure', async (_name, intruder) => {
    const port = await sharedServerPort(simulated, { at: NOW });
    await intruder(port);
    const [result] = await Promise.all([mutualTlsHandshake(simulated.server, simulated.client, { at: NOW }), intruder(port), intruder(port)]);
    expect(result).toMatchObject({ ok: true, serverPeerSubject: 'etcd-1', clientPeerSubject: 'etcd-2' });
  });

  it('cannot be spoiled by a stranger who guesses the name of the next handshake from the last one', async () => {
    const connect = vi.spyOn(tls, 'connect');
    await mutualTlsHandshake(simulated.server, simulated.client, { at: NOW });
    const options = connect.mock.calls[0]?.[0] as tls.ConnectionOptions;
    connect.mockRestore();
    const number = Number(/^handshake-(\d+)/.exec(options.servername ?? '')?.[1]);
    expect(Number.isInteger(number)).toBe(true);
    // A TLS client without a certificate that names the next handshake as the counter would.
    const intrude = async () => {
      const socket = tls.connect({ port: options.port ?? 0, host: '127.0.0.1', servername: `handshake-${number + 1}.certrotate.invalid`, rejectUnauthorized: false });
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.on('error', () => undefined);
      socket.resume();
      await closed;
    };
    const [result] = await Promise.all([mutualTlsHandshake(simulated.server, simulated.client, { at: NOW }), intrude(), intrude()]);
    expect(result).toMatchObject({ ok: true, clientPeerSubject: 'etcd-2' });
  });

  it('still fails when its own client is refused, whatever else comes to the port', async () => {
    const port = await sharedServerPort(simulated, { at: NOW });
    const [result] = await Promise.all([mutualTlsHandshake(simulated.server, simulated.stranger, { at: NOW }), plainHttp(port), tlsWithUnknownName(port)]);
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/^server: /) as unknown });
    expect(result.ok === false && result.error).not.toMatch(/http request|certrotate\.invalid/);
  });

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('still reports the server refusing its own client on %s with OpenSSL judging (no simulated time)', async (version) => {
    const versions = { minVersion: version, maxVersion: version };
    const port = await sharedServerPort(wallClock, versions);
    const [result] = await Promise.all([mutualTlsHandshake(wallClock.server, wallClock.stranger, versions), plainHttp(port)]);
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/^server: /) as unknown });
    expect(result.ok === false && result.error).not.toMatch(/http request/);
  });

  it('checks the server against the expected name, not the name it sent: a wrong expected name fails', async () => {
    expect(await mutualTlsHandshake(wallClock.server, wallClock.client)).toMatchObject({ ok: true });
    expect(await mutualTlsHandshake(wallClock.server, wallClock.client, { serverName: 'other.example.com' })).toMatchObject({ ok: false, error: expect.stringMatching(/other\.example\.com/) as unknown });
    expect(await mutualTlsHandshake(simulated.server, simulated.client, { at: NOW, serverName: 'other.example.com' })).toMatchObject({ ok: false, error: expect.stringMatching(/other\.example\.com/) as unknown });
  });

  it('keeps each of many concurrent handshakes apart: their verdicts do not mix', async () => {
    const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => mutualTlsHandshake(simulated.server, i % 2 === 0 ? simulated.client : simulated.stranger, { at: NOW })));
    runs.forEach((result, i) => expect(result.ok, `handshake ${i}`).toBe(i % 2 === 0));
  });

  it('passes and fails without any intruder, at the simulated instant', async () => {
    expect(await mutualTlsHandshake(simulated.server, simulated.client, { at: NOW })).toMatchObject({ ok: true, clientPeerSubject: 'etcd-2' });
    expect(await mutualTlsHandshake(simulated.server, simulated.client, { at: NOW + 60 * DAY })).toMatchObject({ ok: false });
    expect(await mutualTlsHandshake(simulated.server, simulated.stranger, { at: NOW })).toMatchObject({ ok: false, error: expect.stringMatching(/server: /) as unknown });
  });
});
