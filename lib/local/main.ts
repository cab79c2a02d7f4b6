/**
 * `npm start`: the embedded default. For now a short demo of lib/pki on three authorities shaped
 * like a Kubernetes control plane: generate a CA, issue leaves, verify each chain at the instant,
 * and complete a real mutual-TLS handshake between a server and a client of each authority.
 */
import 'reflect-metadata';
import { Issuer, generateCa, verifyChain, type LeafRequest } from '../pki/index.js';
import { mutualTlsHandshake } from './handshake.js';

const DAY = 86_400_000;
const now = Date.now();

const AUTHORITIES: { name: string; leaves: (LeafRequest & { id: string })[] }[] = [
  {
    name: 'cluster',
    leaves: [
      { id: 'kube-apiserver', subject: 'CN=kube-apiserver', dnsNames: ['localhost', 'kubernetes.default.svc'], ipAddresses: ['127.0.0.1'], usage: 'server', lifetimeMs: 30 * DAY },
      { id: 'kubelet-node-1', subject: 'CN=system:node:node-1,O=system:nodes', dnsNames: ['localhost'], usage: 'both', lifetimeMs: 30 * DAY },
      { id: 'controller-manager', subject: 'CN=system:kube-controller-manager', usage: 'client', lifetimeMs: 30 * DAY },
    ],
  },
  {
    name: 'etcd',
    leaves: [
      { id: 'etcd-server', subject: 'CN=etcd-0', dnsNames: ['localhost', 'etcd-0.etcd'], ipAddresses: ['127.0.0.1'], usage: 'both', lifetimeMs: 90 * DAY },
      { id: 'apiserver-etcd-client', subject: 'CN=kube-apiserver-etcd-client', usage: 'client', lifetimeMs: 90 * DAY },
    ],
  },
  {
    name: 'front-proxy',
    leaves: [
      { id: 'aggregator', subject: 'CN=front-proxy-server', dnsNames: ['localhost'], usage: 'server', lifetimeMs: 7 * DAY },
      { id: 'front-proxy-client', subject: 'CN=front-proxy-client', usage: 'client', lifetimeMs: 7 * DAY },
    ],
  },
];

const rows: string[][] = [];
let failures = 0;
for (const authority of AUTHORITIES) {
  const ca = await generateCa({ authority: authority.name, generation: 1, now, lifetimeMs: 180 * DAY });
  const issuer = Issuer.fromCaGeneration(ca);
  const issued = [];
  for (const request of authority.leaves) {
    const leaf = await issuer.issueLeaf(request, now);
    const purpose = request.usage === 'client' ? 'clientAuth' : 'serverAuth';
    let verdict = 'verified';
    try {
      verifyChain(leaf.certificatePem, ca.certificatePem, now, { purpose });
    } catch (error) {
      verdict = error instanceof Error ? error.message : String(error);
      failures++;
    }
    issued.push({ request, leaf });
    rows.push([authority.name, request.id, request.usage, new Date(leaf.certificate.notAfter).toISOString().slice(0, 10), verdict]);
  }
  const server = issued.find((entry) => entry.request.usage !== 'client');
  const client = issued.find((entry) => entry.request.usage !== 'server' && entry !== server);
  if (server && client) {
    const material = (entry: typeof server) => ({
      certificatePem: entry.leaf.certificatePem,
      privateKeyPem: entry.leaf.privateKeyPem,
      bundlePem: ca.certificatePem,
    });
    const result = await mutualTlsHandshake(material(server), material(client));
    if (!result.ok) failures++;
    rows.push([authority.name, `${client.request.id} -> ${server.request.id}`, 'mTLS', '', result.ok ? `handshake ok (${result.protocol})` : result.error]);
  }
}

const header = ['authority', 'leaf', 'usage', 'notAfter', 'result'];
const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => (row[column] ?? '').length)));
const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ');
console.log(line(header));
console.log(widths.map((width) => '-'.repeat(width)).join('  '));
for (const row of rows) console.log(line(row));
console.log(failures === 0 ? '\nall certificates verified, all handshakes completed' : `\n${failures} failure(s)`);
process.exitCode = failures === 0 ? 0 : 1;
