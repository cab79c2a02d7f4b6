/**
 * The secrets consumer kind: certrotate's own secrets in the certificate store. The bundle secret
 * (`secret:bundle`) and each leaf secret's `ca.crt` (`secret:leaf/<id>`) hold the authority's trust
 * like any other consumer, but the run has already read them (they are also the leaves in the
 * field): they answer from StoreReads, never with a read of their own, and write through the
 * CertificateStore, telling StoreReads what they wrote.
 *
 * They count what they hold loosely (every CA of the authority found in the PEM), as they did
 * before they were a kind: a bundle secret or leaf `ca.crt` written earlier keeps counting for the
 * generations it verifies while the CAs it names are still in the bundle.
 */
import type { AuthorityConfig } from '../../config/index.js';
import { CertrotateError } from '../../errors.js';
import type { Consumer, ConsumerRun, ConsumerWrite, HeldContent, Holding } from '../../ports.js';

export const BUNDLE_SECRET_CONSUMER = 'secret:bundle';

/** `secret:leaf/<id>` */
export function leafSecretConsumerId(leafId: string): string {
  return `secret:leaf/${leafId}`;
}

const UNCHANGED: ConsumerWrite = { changed: false, restarted: [], missing: [] };
const CHANGED: ConsumerWrite = { changed: true, restarted: [], missing: [] };

function heldOf(secret: { pem: string } | undefined | 'unreadable'): Holding {
  return secret === 'unreadable' || secret === undefined ? secret : { 'ca.crt': secret.pem };
}

/** Shared by both: their name in status is their id, they fail with the store, they take no leaf. */
function secretConsumer(id: string, current: () => Holding, publishBundle: Consumer['publishBundle']): Consumer {
  return {
    id,
    name: id,
    scope: 'certificate-store',
    location: {},
    leaf: undefined,
    restartsWorkloads: false,
    matching: 'loose',
    external: false,
    current,
    readBack(): Promise<HeldContent | undefined> {
      const held = current();
      return Promise.resolve(typeof held === 'object' ? held : undefined);
    },
    publishBundle,
    publishLeaf(): Promise<ConsumerWrite> {
      return Promise.reject(new CertrotateError(`${id} takes no leaf: a leaf secret is written when its leaf is issued`));
    },
  };
}

/** The authority's bundle secret, observed once the run has read the store in full. */
export function bundleSecretConsumer(authority: string, { store, reads }: ConsumerRun): Consumer {
  return secretConsumer(
    BUNDLE_SECRET_CONSUMER,
    () => (reads.complete ? heldOf(reads.bundle()) : 'unobserved'),
    async (pem, generations) => {
      await store.writeBundle(authority, pem);
      reads.wroteBundle(generations, pem);
      return CHANGED;
    },
  );
}

/**
 * One leaf secret's `ca.crt`, observed once the run has read the store in full and only while the
 * secret exists: a missing leaf is reissued with the bundle, not waited for.
 */
export function leafSecretConsumer(leafId: string, { store, reads }: ConsumerRun): Consumer {
  return secretConsumer(
    leafSecretConsumerId(leafId),
    () => {
      const held = reads.complete ? reads.leafBundle(leafId) : undefined;
      return held === undefined ? 'unobserved' : held === 'unreadable' ? held : { 'ca.crt': held.pem };
    },
    async (pem) => {
      const held = reads.leafBundle(leafId);
      // A missing or unreadable leaf gets the bundle when it is reissued; one that already holds it
      // (a run cut short, or a crash) needs no write.
      if (held === undefined || held === 'unreadable' || held.pem === pem) return UNCHANGED;
      // Its certificate and key, read now (the run keeps none): gone since, it is reissued later.
      const leaf = await reads.leafForRewrite(leafId, pem);
      if (leaf === undefined) return UNCHANGED;
      const stored = { ...leaf, bundlePem: pem };
      if (leaf.bundlePem !== pem) await store.writeLeaf(stored, leaf.versionId);
      reads.wroteLeafBundle(stored);
      return leaf.bundlePem === pem ? UNCHANGED : CHANGED;
    },
  );
}

/** The registration of the kind: the bundle secret, then each configured leaf's secret. */
export function secretConsumers(): (authority: AuthorityConfig, run: ConsumerRun) => Consumer[] {
  return (authority, run) => [bundleSecretConsumer(authority.name, run), ...run.reads.leafIds.map((id) => leafSecretConsumer(id, run))];
}
