/**
 * The phase machine: a pure function of (state, observations, config, now) to the next step and
 * the state to record once that step is done. Gates are read from observations, never from what
 * the machine believes it did, so a crash between performing a step and recording the state
 * converges: deciding again from the old state sees the step's effect and moves on.
 */
import type { RotationConfig } from './config.js';
import { formatDuration, formatGenerations, formatInstant } from './format.js';
import { stageOf, targetOf } from './state.js';
import { enter } from './transition.js';
import type { Actor, Decision, Observations, ObservedConsumer, RotationState, Stage, Step } from './types.js';

type Advance =
  | { kind: 'step'; step: Step; state: RotationState }
  | { kind: 'transition'; state: RotationState; step?: Step };

/**
 * Decides the next step. At most one transition per decision, together with the first step of
 * the stage it enters: that step is always safe for the state still recorded should the tick die
 * before recording (e.g. reissuing from N+1 while the record still says TrustExpanded). Two
 * transitions in a row could perform a step the recorded state does not allow, such as dropping
 * N from the bundle while the recorded signer is still N. When the next gate is already met, the
 * decision is a wait with `until: now`: record, then decide again at once.
 *
 * Record the returned state after performing the step, whatever its kind: a wait may carry a new
 * gateMetAt.
 */
export function decide(
  state: RotationState,
  observations: Observations,
  config: RotationConfig,
  now: number,
  actor: Actor,
): Decision {
  if (state.paused) {
    return { step: { kind: 'wait', reason: 'paused' }, state };
  }
  const first = advance(state, observations, config, now, actor);
  if (first.kind === 'step') return { step: first.step, state: first.state };
  if (first.step !== undefined) return { step: first.step, state: first.state };
  const second = advance(first.state, observations, config, now, actor);
  if (second.kind === 'step') return { step: second.step, state: second.state };
  return {
    step: { kind: 'wait', reason: 'the next gate is already met: decide again once this is recorded', until: now },
    state: first.state,
  };
}

/** What every stage decides from; `n` is the generation in force (the state's). */
interface StageInput {
  state: RotationState;
  obs: Observations;
  config: RotationConfig;
  now: number;
  by: Actor;
  n: number;
}

function advance(state: RotationState, obs: Observations, config: RotationConfig, now: number, by: Actor): Advance {
  // A retirement recorded but not carried out yet comes first, in whatever phase a forced
  // rotation has reached since: the retired CA is in no bundle, so it is safe at any point.
  if (state.retiring !== undefined) {
    return step({ kind: 'retire-ca', generation: state.retiring }, { ...state, retiring: undefined });
  }
  return STAGES[stageOf(state)]({ state, obs, config, now, by, n: state.generation });
}

/** One small decision per stage: its gate, the step that works towards it, and where it leads. */
const STAGES: Record<Stage, (input: StageInput) => Advance> = {
  bootstrap,
  stable,
  prepared,
  'trust-expanded': trustExpanded,
  'leaves-migrated': leavesMigrated,
  contracting,
  'rollback-restore-trust': rollbackRestoreTrust,
  'rollback-reissue': rollbackReissue,
  'rollback-drop': rollbackDrop,
};

function bootstrap({ state, obs, config, now, by }: StageInput): Advance {
  const t = state.target ?? state.highestGeneration + 1;
  const highestGeneration = Math.max(state.highestGeneration, t);
  if (!isStored(obs, t)) {
    return step({ kind: 'generate-ca', generation: t }, { ...state, target: t, highestGeneration });
  }
  const ensured = ensureBundle(state, obs, [t], undefined, config, now);
  if (ensured) return ensured;
  const why = `bootstrapped: CA ${t} is stored and every consumer holds [${t}]`;
  return transition(enter(state, 'Stable', { generation: t, target: undefined, highestGeneration }, why, now, by));
}

function stable({ state, obs, config, now, by, n }: StageInput): Advance {
  const ca = obs.caGenerations.find((c) => c.generation === n);
  if (ca !== undefined && now >= ca.notAfter - config.rotationLeadMs) {
    const t = state.highestGeneration + 1;
    const why =
      `CA ${n} expires at ${formatInstant(ca.notAfter)}, ` +
      `within the rotation lead time of ${formatDuration(config.rotationLeadMs)}`;
    const changes = { target: t, highestGeneration: t, emergency: false, forced: undefined };
    return transition(enter(state, 'Prepared', changes, why, now, by));
  }
  const ensured = ensureBundle(state, obs, [n], n, config, now);
  if (ensured) return ensured;
  if (ca === undefined) {
    return step(
      { kind: 'wait', reason: `CA ${n} is not in the store: restore its secret (a deleted secret can be restored within its recovery window); no rotation can run without it` },
      state,
    );
  }
  return step({ kind: 'none' }, state);
}

function prepared({ state, obs, now, by }: StageInput): Advance {
  const t = targetOf(state);
  if (!isStored(obs, t)) return step({ kind: 'generate-ca', generation: t }, state);
  return transition(enter(state, 'TrustExpanded', {}, `CA ${t} is stored; adding it to the trust bundle`, now, by));
}

function trustExpanded({ state, obs, config, now, by, n }: StageInput): Advance {
  const t = targetOf(state);
  const ensured = ensureBundle(state, obs, [n, t], n, config, now);
  if (ensured) return ensured;
  // Once CA N has expired every leaf from it is dead already: no soak protects anything.
  const soak = hasExpired(obs, n, now) ? 0 : config.soakMs.trustExpanded;
  const why =
    `every consumer holds ${formatGenerations(liveGenerations([n, t], obs, now))}${soakNote(state, soak)}; ` +
    `new leaves are signed by CA ${t}`;
  return afterSoak(state, soak, now, `switch the signer to CA ${t} after soak`, () =>
    enter(state, 'LeavesMigrated', {}, why, now, by),
  );
}

function leavesMigrated(input: StageInput): Advance {
  const { state, obs, config, now, by, n } = input;
  const t = targetOf(state);
  // The gate is about leaves; the bundle only has to be right before reissuing. Checking the
  // gate first means a contraction written but not recorded is not undone and redone forever.
  const reissuing = reissueLeavesNotFrom(input, t, [n, t]);
  if (reissuing) return reissuing;
  const soak = hasExpired(obs, n, now) ? 0 : config.soakMs.leavesMigrated;
  const why = `every leaf is from CA ${t}${soakNote(state, soak)}; dropping CA ${n} from the bundle`;
  return afterSoak(state, soak, now, `drop CA ${n} from the bundle after soak`, () =>
    enter(state, 'LeavesMigrated', { contracting: true }, why, now, by),
  );
}

function contracting(input: StageInput): Advance {
  const { state, now, n } = input;
  const t = targetOf(state);
  // Retiring cannot be undone, so Stable on N+1 is recorded first (a rollback is refused from
  // then on) and the retire-ca step comes from the next decision.
  const changes: Partial<RotationState> = { generation: t, contracting: false, retired: [...state.retired, n], retiring: n };
  return endOnStable(input, t, changes, `every consumer holds [${t}]; CA ${n} retired`, {
    kind: 'wait',
    reason: `retire CA ${n} once Stable on CA ${t} is recorded`,
    until: now,
  });
}

function rollbackRestoreTrust({ state, obs, config, now, by, n }: StageInput): Advance {
  const t = targetOf(state);
  const ensured = ensureBundle(state, obs, [n, t], t, config, now);
  if (ensured) return ensured;
  // Consumers may already have dropped N (contraction): give their caches time to take N back.
  const soak = state.rollbackFrom === 'contracting' ? config.soakMs.trustExpanded : 0;
  const why =
    `rolling back: every consumer holds ${formatGenerations([n, t])}${soakNote(state, soak)}; ` +
    `new leaves are signed by CA ${n} again`;
  return afterSoak(state, soak, now, `return the signer to CA ${n} after soak`, () =>
    enter(state, 'TrustExpanded', {}, why, now, by),
  );
}

function rollbackReissue(input: StageInput): Advance {
  const { state, obs, config, now, by, n } = input;
  const t = targetOf(state);
  // Leaves from N+1 were in the field (even if a rollback from TrustExpanded raced the signer
  // switch, or it was never recorded): clients may cache them, so the walk back needs the
  // leaves-migrated soak before N+1 leaves the bundle.
  const seenFromTarget = obs.leaves.some((l) => l.generation === t);
  const rollbackFrom = seenFromTarget && state.rollbackFrom === 'trust-expanded' ? 'leaves-migrated' : state.rollbackFrom;
  const reissuing = reissueLeavesNotFrom(input, n, [n, t], rollbackFrom === undefined ? {} : { rollbackFrom });
  if (reissuing) return reissuing;
  // Leaves from N+1 existed only if the rollback started after the signer switched, or were
  // seen while rolling back (rollbackFrom is then raised to leaves-migrated).
  const soak = state.rollbackFrom === 'trust-expanded' ? 0 : config.soakMs.leavesMigrated;
  const why = `rolling back: every leaf is from CA ${n}${soakNote(state, soak)}; dropping CA ${t} from the bundle`;
  return afterSoak(state, soak, now, `drop CA ${t} from the bundle after soak`, () =>
    enter(state, 'Prepared', {}, why, now, by),
  );
}

function rollbackDrop(input: StageInput): Advance {
  const { state, n } = input;
  const t = targetOf(state);
  const changes: Partial<RotationState> = { rollingBack: false, rollbackFrom: undefined, abandoned: [...state.abandoned, t] };
  return endOnStable(input, n, changes, `rolled back: every consumer holds [${n}]; CA ${t} abandoned`);
}

/**
 * Ends a rotation or a rollback: once every consumer holds [generation] alone, Stable is recorded
 * with `changes`, no target and no emergency or forcing left over, together with `next`.
 */
function endOnStable(
  { state, obs, config, now, by }: StageInput,
  generation: number,
  changes: Partial<RotationState>,
  why: string,
  next?: Step,
): Advance {
  const ensured = ensureBundle(state, obs, [generation], generation, config, now);
  if (ensured) return ensured;
  const ended: Partial<RotationState> = { ...changes, target: undefined, emergency: false, forced: undefined };
  return transition(enter(state, 'Stable', ended, why, now, by), next);
}

/**
 * Reissues the leaves not from `signer`, once every consumer holds `bundle`; undefined when every
 * leaf is from it. `recorded` goes into the state recorded with the reissue.
 */
function reissueLeavesNotFrom(
  { state, obs, config, now }: StageInput,
  signer: number,
  bundle: number[],
  recorded: Partial<RotationState> = {},
): Advance | undefined {
  const stale = leavesNotFrom(obs, signer);
  if (stale.length === 0) return undefined;
  const ensured = ensureBundle(state, obs, bundle, signer, config, now);
  if (ensured) return ensured;
  return step({ kind: 'reissue-leaves', generation: signer, leafIds: stale }, { ...state, gateMetAt: undefined, ...recorded });
}

function step(s: Step, state: RotationState): Advance {
  return { kind: 'step', step: s, state };
}

function transition(state: RotationState, s?: Step): Advance {
  return s === undefined ? { kind: 'transition', state } : { kind: 'transition', state, step: s };
}

function isStored(obs: Observations, generation: number): boolean {
  return obs.caGenerations.some((c) => c.generation === generation);
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((g) => sb.has(g));
}

/**
 * The generations of `bundle` a consumer must hold at `now`: an expired CA verifies nothing, so it
 * is neither required nor written (bundles leave it out). All of them when every one has expired.
 */
export function liveGenerations(bundle: readonly number[], obs: Pick<Observations, 'caGenerations'>, now: number): number[] {
  const live = bundle.filter((generation) => !hasExpired(obs, generation, now));
  return live.length > 0 ? live : [...bundle];
}

function hasExpired(obs: Pick<Observations, 'caGenerations'>, generation: number, now: number): boolean {
  const ca = obs.caGenerations.find((c) => c.generation === generation);
  return ca !== undefined && now > ca.notAfter;
}

/** Whether a consumer holds exactly these generations (in any order); unreadable never does. */
export function holdsExactly(consumer: ObservedConsumer, generations: readonly number[]): boolean {
  return consumer.holds !== undefined && sameSet(consumer.holds, generations);
}

/** Leaves not from `generation`, missing and unreadable ones included: they block the gate too. */
function leavesNotFrom(obs: Observations, generation: number): string[] {
  return obs.leaves.filter((l) => l.generation !== generation).map((l) => l.id);
}

function soakNote(state: RotationState, soakMs: number): string {
  if (soakMs <= 0) return '';
  return state.emergency ? ' (EMERGENCY: soak skipped)' : ` for ${formatDuration(soakMs)}`;
}

/**
 * The gate of the current stage is met: wait out the soak (counted from when the gate was first
 * seen met), then take the transition. Emergencies skip the soak.
 */
function afterSoak(
  state: RotationState,
  soakMs: number,
  now: number,
  waitReason: string,
  next: () => RotationState,
): Advance {
  const metAt = state.gateMetAt ?? now;
  const until = metAt + (state.emergency ? 0 : soakMs);
  if (now >= until) return transition(next());
  return step({ kind: 'wait', reason: waitReason, until }, { ...state, gateMetAt: metAt });
}

/**
 * Brings every consumer to `bundle`, or returns undefined when they all hold it and it has been
 * sent. A bundle different from the last one sent goes to every consumer, even those that seem to
 * hold it: a write of another bundle may have been performed and never recorded (a crash, or a
 * command that won the race), and only a newer write supersedes it. The same bundle is re-sent to
 * lagging consumers at most once per `republishAfterMs`.
 *
 * Before a bundle goes out, any leaf it would leave untrusted is reissued from `signer` (if every
 * consumer already trusts the signer); before bootstrap `signer` is undefined and nothing is.
 */
function ensureBundle(
  state: RotationState,
  obs: Observations,
  bundle: number[],
  signer: number | undefined,
  config: RotationConfig,
  now: number,
): Advance | undefined {
  const changed = state.lastPublish === undefined || !sameSet(state.lastPublish.generations, bundle);
  const live = liveGenerations(bundle, obs, now);
  const lagging = obs.consumers.filter((c) => !holdsExactly(c, live)).map((c) => c.id);
  if (!changed && lagging.length === 0) return undefined;

  if (signer !== undefined) {
    const outside = obs.leaves
      .filter((l) => l.generation !== undefined && !bundle.includes(l.generation))
      .map((l) => l.id);
    if (outside.length > 0) {
      const trusted = obs.consumers.every((c) => c.holds?.includes(signer) === true);
      return trusted
        ? step({ kind: 'reissue-leaves', generation: signer, leafIds: outside }, { ...state, gateMetAt: undefined })
        : step(
            {
              kind: 'wait',
              reason:
                `${outside.length} leaves are from generations outside ${formatGenerations(bundle)} ` +
                `and not every consumer trusts CA ${signer} to reissue them`,
            },
            { ...state, gateMetAt: undefined },
          );
    }
  }

  const waiting = { ...state, gateMetAt: undefined };
  if (changed) {
    return step(
      { kind: 'publish-bundle', generations: bundle, consumers: obs.consumers.map((c) => c.id) },
      { ...waiting, lastPublish: { generations: bundle, at: now } },
    );
  }
  const retryAt = (state.lastPublish?.at ?? now) + config.republishAfterMs;
  if (now >= retryAt) {
    return step(
      { kind: 'publish-bundle', generations: bundle, consumers: lagging },
      { ...waiting, lastPublish: { generations: bundle, at: now } },
    );
  }
  return step(
    {
      kind: 'wait',
      reason:
        `${lagging.length}/${obs.consumers.length} consumers have not picked up ${formatGenerations(bundle)} yet ` +
        `(${lagging.slice(0, 3).join(', ')}${lagging.length > 3 ? ', ...' : ''})`,
      until: retryAt,
    },
    waiting,
  );
}
