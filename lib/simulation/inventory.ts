/**
 * The demo inventory the simulation runs on: a Kubernetes control plane's three authorities
 * (cluster, etcd, front-proxy) with servers, clients and both, lifetimes from 7 to 90 days, and
 * who talks to whom. The seed picks lifetimes, so one seed always yields the same fleet.
 */
import { parseConfig, type CertrotateConfig } from '../config/index.js';
import type { KeyAlgorithm } from '../pki/index.js';

export interface DemoOptions {
  /** Total leaves across the three authorities (at least 12). */
  leaves: number;
  algorithm: KeyAlgorithm;
  seed: number;
  caLifetimeDays: number;
}

/** A small deterministic PRNG (mulberry32): the same seed, the same fleet. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface DemoLeaf {
  authority: string;
  id: string;
  subject: string;
  usage: 'server' | 'client' | 'both';
  lifetimeDays: number;
  consumers: string[];
}

export function demoConfig(options: DemoOptions): CertrotateConfig {
  const random = seededRandom(options.seed);
  const pick = <T>(choices: readonly T[]): T => choices[Math.floor(random() * choices.length)] ?? (choices[0] as T);
  const total = Math.max(12, options.leaves);
  const frontProxyLeaves = Math.max(3, Math.round(total * 0.15));
  const etcdMembers = 3;
  const etcdClients = 2;
  const clusterClients = ['controller-manager', 'scheduler', 'admin'];
  const kubelets = Math.max(1, total - frontProxyLeaves - etcdMembers - etcdClients - clusterClients.length - 2);

  const leaves: DemoLeaf[] = [];
  const kubeletIds = Array.from({ length: kubelets }, (_, i) => `kubelet-node-${i + 1}`);
  leaves.push({ authority: 'cluster', id: 'kube-apiserver', subject: 'CN=kube-apiserver', usage: 'server', lifetimeDays: 30, consumers: [...kubeletIds, ...clusterClients] });
  leaves.push({ authority: 'cluster', id: 'apiserver-kubelet-client', subject: 'CN=kube-apiserver-kubelet-client,O=system:masters', usage: 'client', lifetimeDays: 30, consumers: [] });
  for (const id of kubeletIds) {
    leaves.push({ authority: 'cluster', id, subject: `CN=system:node:${id.slice('kubelet-'.length)},O=system:nodes`, usage: 'both', lifetimeDays: pick([7, 14, 30]), consumers: ['apiserver-kubelet-client'] });
  }
  for (const id of clusterClients) {
    leaves.push({ authority: 'cluster', id, subject: `CN=system:kube-${id}`, usage: 'client', lifetimeDays: pick([7, 14, 30]), consumers: [] });
  }
  const members = Array.from({ length: etcdMembers }, (_, i) => `etcd-${i}`);
  for (const id of members) {
    leaves.push({ authority: 'etcd', id, subject: `CN=${id}`, usage: 'both', lifetimeDays: pick([30, 60, 90]), consumers: [...members.filter((other) => other !== id), 'apiserver-etcd-client', 'etcd-healthcheck-client'] });
  }
  leaves.push({ authority: 'etcd', id: 'apiserver-etcd-client', subject: 'CN=kube-apiserver-etcd-client', usage: 'client', lifetimeDays: 90, consumers: [] });
  leaves.push({ authority: 'etcd', id: 'etcd-healthcheck-client', subject: 'CN=kube-etcd-healthcheck-client', usage: 'client', lifetimeDays: 7, consumers: [] });
  const aggregated = Array.from({ length: frontProxyLeaves - 1 }, (_, i) => `aggregated-api-${i + 1}`);
  for (const id of aggregated) {
    leaves.push({ authority: 'front-proxy', id, subject: `CN=${id}`, usage: 'server', lifetimeDays: pick([7, 14]), consumers: ['front-proxy-client'] });
  }
  leaves.push({ authority: 'front-proxy', id: 'front-proxy-client', subject: 'CN=front-proxy-client', usage: 'client', lifetimeDays: 14, consumers: [] });

  // Short CAs (tests) get proportionally short leaves: the rotation lead must cover the longest.
  const cap = Math.floor(options.caLifetimeDays / 2);
  for (const leaf of leaves) leaf.lifetimeDays = Math.min(leaf.lifetimeDays, cap);
  const longest = (authority: string) => Math.max(...leaves.filter((leaf) => leaf.authority === authority).map((leaf) => leaf.lifetimeDays));
  return parseConfig({
    authorities: ['cluster', 'etcd', 'front-proxy'].map((name) => ({
      name,
      algorithm: options.algorithm,
      // cluster and etcd keep their CA keys in the local KMS (signed through it), front-proxy in its secrets.
      caKeyStore: name === 'front-proxy' ? 'secret' : 'kms',
      caLifetimeDays: options.caLifetimeDays,
      rotationLeadDays: Math.min(Math.max(30, longest(name)), cap),
      // One authority's CAs can sign only its own names: every handshake then runs under them.
      ...(name === 'etcd' ? { nameConstraints: { permitted: { dnsDomains: ['localhost', 'etcd.svc'], ipRanges: ['127.0.0.0/8'] } } } : {}),
    })),
    leaves: leaves.map((leaf) => ({
      ...leaf,
      dnsNames: ['localhost', `${leaf.id}.${leaf.authority}.svc`],
      ipAddresses: ['127.0.0.1'],
      algorithm: options.algorithm,
    })),
  });
}
