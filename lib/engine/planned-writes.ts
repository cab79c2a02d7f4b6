/**
 * What a step writes where, for `plan`: read off the step the phase machine decided (the decision
 * a run makes from the same observations) and the consumers as observed. A consumer already holding
 * what the step would give it is left out: its write changes nothing.
 */
import { bundleOf, formatGenerations, holdsExactly, liveGenerations, type Observations, type RotationState, type Step } from '../rotation/index.js';
import type { Consumer } from '../ports.js';
import type { AuthorityObservation } from './observe.js';

export interface PlannedWrite {
  /**
   * The consumer's id (`eks:prod-eu/kube-system/cluster-ca`); for the store's own secrets that are
   * no consumer, `store:leaf/<id>` (a leaf issued) and `store:ca/<generation>` (a CA generated).
   */
  consumer: string;
  /** The id up to its first colon: `elbv2-trust-store`, `api-gateway-domain`, `acm-certificate`, `eks`, `secret`, `store`. */
  kind: string;
  /** Where, as status names it. */
  target: string;
  location: Record<string, string>;
  /** What goes there: `bundle [1 2]`, `leaf web from CA 2`, `leaf web from CA 2 with ca.crt [1 2]`. */
  what: string;
}

function kindOf(id: string): string {
  const colon = id.indexOf(':');
  return colon < 0 ? id : id.slice(0, colon);
}

function toConsumer(consumer: Consumer, what: string): PlannedWrite {
  return { consumer: consumer.id, kind: kindOf(consumer.id), target: consumer.name, location: { ...consumer.location }, what };
}

function toStore(authority: string, what: { leaf: string } | { generation: number }, text: string): PlannedWrite {
  if ('leaf' in what) return { consumer: `store:leaf/${what.leaf}`, kind: 'store', target: `leaf secret ${what.leaf}`, location: { authority, leaf: what.leaf }, what: text };
  return { consumer: `store:ca/${what.generation}`, kind: 'store', target: `CA secret ${what.generation}`, location: { authority, generation: String(what.generation) }, what: text };
}

/** The writes of `step`, which the next tick performs against `next` (Plan.state), for `observations`. */
export function plannedWrites(step: Step, next: RotationState, observed: AuthorityObservation, observations: Observations): PlannedWrite[] {
  const { world, consumers, now } = observed;
  const authority = world.authority.name;
  switch (step.kind) {
    case 'generate-ca':
      return [toStore(authority, { generation: step.generation }, `CA ${step.generation} and its key`)];
    case 'publish-bundle': {
      const live = liveGenerations(step.generations, observations, now);
      const held = new Map(observations.consumers.map((consumer) => [consumer.id, consumer]));
      return step.consumers.flatMap((id) => {
        const consumer = consumers.consumer(id);
        const seen = held.get(id);
        if (consumer === undefined || (seen !== undefined && holdsExactly(seen, live))) return [];
        if (consumer.leaf === undefined) return [toConsumer(consumer, `bundle ${formatGenerations(live)}`)];
        // A copy of a leaf gets its leaf secret with the bundle as ca.crt; a missing leaf gets it when issued.
        if (world.leaf(consumer.leaf)?.secret === undefined) return [];
        return [toConsumer(consumer, `ca.crt ${formatGenerations(live)} with leaf ${consumer.leaf} (unchanged)`)];
      });
    }
    case 'reissue-leaves': {
      const bundle = formatGenerations(liveGenerations(bundleOf(next), observations, now));
      const copyOnly = consumers.copyOnly(step.leafIds, step.generation, world);
      return step.leafIds.flatMap((id) => {
        const issued = `leaf ${id} from CA ${step.generation}`;
        if (!copyOnly.includes(id)) {
          return [toStore(authority, { leaf: id }, `${issued} with ca.crt ${bundle}`), ...consumers.copiesOf(id).map((copy) => toConsumer(copy, issued))];
        }
        const stored = world.wholeLeaf(id);
        if (stored === undefined) return [];
        return consumers.copiesOf(id).flatMap((copy) => (consumers.copyHolds(copy, stored) ? [] : [toConsumer(copy, issued)]));
      });
    }
    case 'retire-ca':
    case 'wait':
    case 'none':
      return [];
  }
}
