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
