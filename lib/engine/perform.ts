/** Carrying out the step the phase machine decided: generate a CA, publish a bundle, reissue leaves, retire a CA. */
import { bundleOf, type RotationState, type Step } from '../rotation/index.js';
import { disableCaKey, newCaGeneration } from './ca-keys.js';
import { forEachConcurrent } from './concurrency.js';
import type { AuthorityConsumers } from './consumers.js';
import type { EngineDeps } from './deps.js';
import { reissueLeaves } from './reissue.js';
import type { AuthorityWorld } from './world.js';

/**
 * Carries out one step; `complete` is false when the time budget ran out part-way, `stalled` true
 * when nothing could be written because the consumers it needed are unavailable.
 */
export async function perform(
  deps: EngineDeps,
  world: AuthorityWorld,
  consumers: AuthorityConsumers,
  step: Step,
  next: RotationState,
  now: number,
  outOfTime: () => boolean,
): Promise<{ complete: boolean; stalled?: boolean }> {
  const name = world.authority.name;
  switch (step.kind) {
    case 'generate-ca': {
      const stored = await deps.certificates.createCa(await newCaGeneration(deps, world.authority, step.generation, now));
      world.addCa(stored);
      deps.events.emit({ type: 'ca-generated', authority: name, detail: { generation: step.generation } });
      return { complete: true };
    }
    case 'publish-bundle': {
      const bundlePem = world.bundlePem(step.generations, now);
      await world.assertKeepsTrust(step.generations, bundlePem, now);
      // certrotate's own secrets first: an external consumer is read back right after its write,
      // and a copy of a leaf (ACM) reports the ca.crt of its leaf secret.
      let published = { complete: true };
      for (const group of [step.consumers.filter((id) => !consumers.isExternal(id)), step.consumers.filter((id) => consumers.isExternal(id))]) {
        published = await forEachConcurrent(group, deps.writeConcurrency ?? 8, async (consumer) => {
          // A failure is recorded and emitted; the consumer lags and its gate waits.
          await consumers.publishBundle(consumer, world, step.generations, bundlePem);
        }, outOfTime);
        if (!published.complete) break;
      }
      if (published.complete) {
        deps.events.emit({ type: 'bundle-published', authority: name, detail: { generations: step.generations, consumers: step.consumers.length } });
      }
      return published;
    }
    case 'reissue-leaves': {
      // A leaf whose secret is already from this generation is asked for only because a copy of
      // it (an EKS leaf target) still holds another leaf: the copies get the secret, nothing is issued.
      const copyOnly = consumers.copyOnly(step.leafIds, step.generation, world);
      let failedCopies = 0;
      for (const id of copyOnly) {
        const stored = world.wholeLeaf(id);
        if (stored !== undefined) failedCopies += await consumers.pushLeaf(stored, step.generation);
      }
      const toIssue = step.leafIds.filter((id) => !copyOnly.includes(id));
      const reissued = await reissueLeaves(deps, world, consumers, toIssue, step.generation, world.bundlePem(bundleOf(next), now), now, outOfTime);
      if (reissued.complete && toIssue.length > 0) {
        deps.events.emit({ type: 'leaves-reissued', authority: name, detail: { generation: step.generation, count: toIssue.length } });
      }
      // A leaf that cannot be issued would be asked for again at once: the next run tries again.
      return { complete: reissued.complete, stalled: (toIssue.length === 0 && failedCopies > 0) || reissued.unissuable.length > 0 };
    }
    case 'retire-ca': {
      // The CA secret stays for audit; it is in no bundle and signs nothing from now on: a KMS key
      // is disabled (its deletion is scheduled once the certificate has expired).
      const keyArn = await disableCaKey(deps, name, step.generation);
      deps.events.emit({ type: 'ca-retired', authority: name, detail: { generation: step.generation, ...(keyArn === undefined ? {} : { keyDisabled: keyArn }) } });
      return { complete: true };
    }
    case 'wait':
    case 'none':
      return { complete: true };
  }
}
