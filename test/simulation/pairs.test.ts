import { describe, expect, it } from 'vitest';
import { pairsOf, routesOf } from '../../lib/simulation/pairs.js';
import { demoConfig } from '../../lib/simulation/inventory.js';

describe('routesOf', () => {
  it("routes each pair by its less connected leaf, so a kubelet's two pairs share one traffic thread", () => {
    const pairs = pairsOf(demoConfig({ leaves: 40, algorithm: 'p256', seed: 1, caLifetimeDays: 180 }));
    const routes = routesOf(pairs);
    const kubelet = 'kubelet-node-3';
    const asClient = pairs.find((pair) => pair.server === 'kube-apiserver' && pair.client === kubelet);
    const asServer = pairs.find((pair) => pair.server === kubelet && pair.client === 'apiserver-kubelet-client');
    expect(asClient && routes.get(asClient)).toBe(`cluster/${kubelet}`);
    expect(asServer && routes.get(asServer)).toBe(`cluster/${kubelet}`);
    // The API server talks to every kubelet: none of its pairs is routed by it.
    expect([...routes.values()].filter((route) => route === 'cluster/kube-apiserver')).toEqual([]);
    expect(routes.size).toBe(pairs.length);
  });
});
