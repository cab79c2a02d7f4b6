/** What the bundle-only AWS kinds (ELBv2 trust stores, API Gateway domains) share: an external consumer of the bundle alone, failing alone. */
import { CertrotateError } from '../errors.js';
import type { Consumer, ConsumerWrite, HeldContent } from '../ports.js';

export function bundleOnlyConsumer(
  id: string,
  name: string,
  location: Readonly<Record<string, string>>,
  readBack: () => Promise<HeldContent | undefined>,
  publish: (pem: string) => Promise<void>,
): Consumer {
  return {
    id,
    name,
    // One target failing holds only itself.
    scope: id,
    location,
    leaf: undefined,
    restartsWorkloads: false,
    matching: 'exact',
    external: true,
    readBack,
    async publishBundle(pem: string): Promise<ConsumerWrite> {
      await publish(pem);
      return { changed: true, restarted: [], missing: [] };
    },
    publishLeaf(): Promise<ConsumerWrite> {
      return Promise.reject(new CertrotateError(`${name} holds the bundle alone: it takes no leaf`));
    },
  };
}
