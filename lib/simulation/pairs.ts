/** The mutual-TLS pairs of the simulation: each server leaf with each client leaf it names as a consumer. */
import type { CertrotateConfig } from '../config/index.js';

export interface Pair {
  authority: string;
  server: string;
  client: string;
}

export function pairsOf(config: CertrotateConfig): Pair[] {
  const byKey = new Map(config.leaves.map((leaf) => [`${leaf.authority}/${leaf.id}`, leaf]));
  return config.leaves.flatMap((server) =>
    server.usage === 'client'
      ? []
      : server.consumers.flatMap((clientId) => {
          const client = byKey.get(`${server.authority}/${clientId}`);
          return client === undefined || client.usage === 'server' ? [] : [{ authority: server.authority, server: server.id, client: clientId }];
        }),
  );
}

/**
 * Per pair, the leaf to route its handshakes by: the side in fewer pairs (a kubelet, not the API
 * server every kubelet talks to), so each leaf's handshakes, and its OpenSSL context, stay together.
 */
export function routesOf(pairs: readonly Pair[]): Map<Pair, string> {
  const degree = new Map<string, number>();
  const key = (pair: Pair, leaf: string) => `${pair.authority}/${leaf}`;
  for (const pair of pairs) for (const leaf of [pair.server, pair.client]) degree.set(key(pair, leaf), (degree.get(key(pair, leaf)) ?? 0) + 1);
  return new Map(pairs.map((pair) => [pair, (degree.get(key(pair, pair.server)) ?? 0) <= (degree.get(key(pair, pair.client)) ?? 0) ? key(pair, pair.server) : key(pair, pair.client)]));
}
