import { describePhase } from './commands.js';
import type { RotationConfig } from './config.js';
import { decide, holdsExactly, liveGenerations } from './decide.js';
import { formatDuration, formatGenerations } from './format.js';
import { bundleOf, signerOf, stageOf } from './state.js';
import type { Observations, RotationState, Step, Transition } from './types.js';

export interface Plan {
  /** The step the next tick would perform first. */
  step: Step;
  /** One line for an operator: "move to TrustExpanded, then publish bundle [1 2] to 12 consumers". */
  description: string;
  /** The transitions the next tick would record. */
  transitions: Transition[];
  /** The state the next tick would record once the step is done (what the step is performed against). */
  state: RotationState;
}

/** A dry run: what the next tick would do, without doing or recording anything. */
export function plan(state: RotationState, observations: Observations, config: RotationConfig, now: number): Plan {
  const decision = decide(state, observations, config, now, { kind: 'schedule' });
  const transitions = decision.state.history.slice(state.history.length);
  const action = describeStep(decision.step, decision.state, observations, config, now);
  const last = transitions.at(-1);
  const description =
    last !== undefined && last.to !== state.phase ? `move to ${describePhase(decision.state)}, then ${action}` : action;
  return { step: decision.step, description, transitions, state: decision.state };
}

/**
 * GKE-style one-liner: `cluster: CA generation 2, phase LeavesMigrated (3/4): bundle [1 2],
 * signer 2, leaves 812/1000 from 2, consumers 12/12 hold [1 2], next: ...`. Paused, emergency and
 * rollback are said up front, in capitals.
 */
export function statusLine(
  state: RotationState,
  observations: Observations,
  config: RotationConfig,
  now: number,
  /** `counts: false` when leaves and consumers were not read (a scan in Stable): say nothing of them. */
  options: { counts?: boolean } = {},
): string {
  const loud: string[] = [];
  if (state.paused) loud.push('PAUSED');
  if (state.emergency) loud.push('EMERGENCY rotation (soak times skipped)');
  if (state.rollingBack) loud.push(`ROLLING BACK to CA ${state.generation}`);
  const prefix = `${state.authority}: ${loud.length > 0 ? `${loud.join(', ')}: ` : ''}`;
  const next = plan(state, observations, config, now).description;

  const signer = signerOf(state);
  if (stageOf(state) === 'bootstrap' || signer === undefined) {
    return `${prefix}not bootstrapped yet, next: ${next}`;
  }
  const bundle = bundleOf(state);
  const leaves = observations.leaves;
  const fromSigner = leaves.filter((l) => l.generation === signer).length;
  const unreadableLeaves = leaves.filter((l) => l.generation === undefined).length;
  const consumers = observations.consumers;
  const holding = consumers.filter((c) => holdsExactly(c, liveGenerations(bundle, observations, now))).length;
  const unreadableConsumers = consumers.filter((c) => c.holds === undefined).length;
  const head = `${prefix}CA generation ${newestLiveGeneration(state, observations)}, phase ${describePhase(state)}: bundle ${formatGenerations(bundle)}, signer ${signer}`;
  if (options.counts === false) return `${head}, next: ${next}`;
  return (
    `${head}, ` +
    `leaves ${fromSigner}/${leaves.length} from ${signer}` +
    migrationPace(state, fromSigner, leaves.length, now) +
    (unreadableLeaves > 0 ? ` (${unreadableLeaves} missing or unreadable)` : '') +
    `, consumers ${holding}/${consumers.length} hold ${formatGenerations(bundle)}` +
    (unreadableConsumers > 0 ? ` (${unreadableConsumers} unreadable)` : '') +
    `, next: ${next}`
  );
}

/**
 * While leaves move to the signer (LeavesMigrated, forwards or rolling back): the time left at the
 * pace since the phase began, e.g. ` (about 4m left at 37/min)`. Nothing before the first leaf
 * has moved, or once all have.
 */
export function migrationPace(state: RotationState, migrated: number, total: number, now: number): string {
  const elapsedMs = now - state.phaseSince;
  if (state.phase !== 'LeavesMigrated' || migrated <= 0 || migrated >= total || elapsedMs <= 0) return '';
  const perMs = migrated / elapsedMs;
  const leftMs = (total - migrated) / perMs;
  const perMinute = perMs * 60_000;
  const pace = perMinute >= 1 ? `${perMinute >= 10 ? Math.round(perMinute) : perMinute.toFixed(1)}/min` : `${(perMinute * 60).toFixed(1)}/h`;
  return ` (about ${formatDuration(Math.max(1000, leftMs))} left at ${pace})`;
}

/** The newest stored CA that is neither retired nor abandoned. */
function newestLiveGeneration(state: RotationState, observations: Observations): number {
  const dead = new Set([...state.retired, ...state.abandoned]);
  return observations.caGenerations
    .map((c) => c.generation)
    .filter((g) => !dead.has(g))
    .reduce((a, b) => Math.max(a, b), state.generation);
}

export function describeStep(
  step: Step,
  state: RotationState,
  observations: Observations,
  config: RotationConfig,
  now: number,
): string {
  switch (step.kind) {
    case 'generate-ca':
      return `generate CA ${step.generation}`;
    case 'publish-bundle':
      return `publish bundle ${formatGenerations(step.generations)} to ${plural(step.consumers.length, 'consumer')}`;
    case 'reissue-leaves':
      return `reissue ${plural(step.leafIds.length, 'leaf', 'leaves')} from CA ${step.generation}`;
    case 'retire-ca':
      return `retire CA ${step.generation}`;
    case 'wait':
      if (state.paused) return 'nothing until resumed (leaf renewal continues)';
      return step.until === undefined || step.until <= now ? step.reason : `${step.reason} (in ${formatDuration(step.until - now)})`;
    case 'none': {
      const ca = observations.caGenerations.find((c) => c.generation === state.generation);
      if (stageOf(state) !== 'stable' || ca === undefined) return 'nothing to do';
      return `nothing to do; rotation of CA ${state.generation} due in ${formatDuration(ca.notAfter - config.rotationLeadMs - now)}`;
    }
  }
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
