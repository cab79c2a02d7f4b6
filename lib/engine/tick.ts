/**
 * The tick: for each authority, look at what is stored, let the phase machine decide the next
 * safe step, perform it, record the state with a conditional write, and repeat until the machine
 * waits; then renew the leaves that are due. The same code runs in the Lambdas, the local run and
 * the tests; time, the lease owner and the time budget are inputs.
 *
 * The consumers registered for the authority (lib/consumers, through lib/engine/consumers.ts) are
 * read back before deciding, written by publish-bundle, given each leaf as it is (re)written. One
 * that is down or refuses is recorded and emitted, and only this authority's gates wait for it.
 */
import type { AuthorityConfig } from '../config/index.js';
import { ConflictError } from '../errors.js';
import type { LeafInventoryRow, VersionedState } from '../ports.js';
import type { DueLeaf } from '../renewal/index.js';
import { decide, initialRotationState, stageOf, type Actor, type Observations, type ObservedCa, type RotationState, type Step, type Transition } from '../rotation/index.js';
import { deleteExpiredCaKeys } from './ca-keys.js';
import type { ConsumerFailure } from './consumers.js';
import type { EngineDeps } from './deps.js';
import { phaseChangedEvent, writeRotationState } from './history.js';
import { caProblem, observeAuthority, type AuthorityObservation } from './observe.js';
import { perform } from './perform.js';
import { renewAfter, renewDue, repairInventory } from './renew-due.js';
import type { AuthorityWorld } from './world.js';

export interface TickOptions {
  now: number;
  /** Who holds the lease: unique per invocation (a Lambda request id). */
  owner: string;
  /** `scan` reads only due inventory rows; `reconcile` reads every leaf and repairs the inventory. */
  mode: 'scan' | 'reconcile';
  authorities?: readonly string[];
  /** Checked between steps: true when the time budget is spent; what is left waits for the next run. */
  outOfTime?: () => boolean;
  maxSteps?: number;
  leaseMs?: number;
}

export interface AuthorityReport {
  authority: string;
  /** Why nothing was done (another run holds the lease). */
  skipped?: string;
  steps: Step[];
  transitions: Transition[];
  renewed: DueLeaf[];
  /** In a scan that went by the inventory, the rows that can hold the earliest expiry after it (renew-due.ts). */
  earliestRows?: LeafInventoryRow[];
  state: RotationState | undefined;
  status: string;
  /**
   * How long the current gate has waited to be met: since the phase began, while its gate
   * (consumers holding the bundle, leaves migrated) is not met yet; 0 once it is met (soaking), in
   * Stable, and when paused.
   */
  gateWaitMs: number;
  /** The stored CAs observed (retired and abandoned ones are not read). */
  cas: ObservedCa[];
  /** The consumers observed at the end of the tick, and the ones not holding the bundle, named. */
  consumers: { total: number; holding: number; laggards: string[]; failures: ConsumerFailure[] };
}

/** How long the current gate has waited (see AuthorityReport.gateWaitMs). */
export function gateWaitMs(state: RotationState, now: number): number {
  if (state.paused || stageOf(state) === 'stable' || state.gateMetAt !== undefined) return 0;
  return Math.max(0, now - state.phaseSince);
}

const DEFAULT_MAX_STEPS = 25;
const DEFAULT_LEASE_MS = 15 * 60 * 1000;

/** Runs one tick over the configured authorities, one after the other. */
export async function tick(deps: EngineDeps, options: TickOptions): Promise<AuthorityReport[]> {
  const wanted = options.authorities === undefined ? undefined : new Set(options.authorities);
  const reports: AuthorityReport[] = [];
  for (const authority of deps.config.authorities) {
    if (wanted !== undefined && !wanted.has(authority.name)) continue;
    reports.push(await tickAuthority(deps, authority, options));
  }
  return reports;
}

type StoredState = VersionedState<RotationState> | { state: RotationState; version: undefined };

/** What is stored, or the initial state before the first write. */
function orInitial(stored: VersionedState<RotationState> | undefined, authority: string, now: number): StoredState {
  return stored ?? { state: initialRotationState(authority, now), version: undefined };
}

async function readState(deps: EngineDeps, authority: string, now: number): Promise<StoredState> {
  return orInitial(await deps.state.readState(authority), authority, now);
}

/** In Stable with nothing due, only the CAs matter: skip reading every leaf (a scan stays O(due)). */
function needsEveryLeaf(state: RotationState, world: AuthorityWorld, now: number): boolean {
  if (stageOf(state) !== 'stable' || state.paused) return stageOf(state) !== 'stable';
  const published = state.lastPublish?.generations;
  if (published?.length !== 1 || published[0] !== state.generation) return true;
  const current = world.observations(false).caGenerations.find((ca) => ca.generation === state.generation);
  return current === undefined || now >= current.notAfter - world.authority.rotation.rotationLeadMs;
}

function busyReport(name: string): AuthorityReport {
  return {
    authority: name,
    skipped: 'another run holds the lease',
    steps: [],
    transitions: [],
    renewed: [],
    state: undefined,
    status: `${name}: busy (another run holds the lease)`,
    gateWaitMs: 0,
    cas: [],
    consumers: { total: 0, holding: 0, laggards: [], failures: [] },
  };
}

async function tickAuthority(deps: EngineDeps, authority: AuthorityConfig, options: TickOptions): Promise<AuthorityReport> {
  const { now, owner } = options;
  const name = authority.name;
  const lease = await deps.state.acquireLease(name, owner, now, options.leaseMs ?? DEFAULT_LEASE_MS);
  if (lease === undefined) return busyReport(name);
  try {
    const stored = orInitial(lease.stored, name, now);
    const observed = await observeAuthority(deps, authority, stored.state, now, { full: options.mode === 'reconcile' });
    const { world, consumers } = observed;
    const run = await runSteps(deps, observed, stored, options);
    const problem = caProblem(world, run.record.state);
    if (problem?.blocking === false) deps.events.emit({ type: 'ca-lost', authority: name, detail: { problem: problem.error.message } });
    else if (problem !== undefined && run.failure === undefined) run.failure = { error: problem.error };
    const renewals = await renewAfter(
      run.failure,
      () => renewDue(deps, world, consumers, run.record.state, options),
      (error) => deps.events.emit({ type: 'renewal-failed', authority: name, detail: { error: error instanceof Error ? error.message : String(error) } }),
    );
    if (options.mode === 'reconcile') {
      await repairInventory(deps, world);
      await deleteExpiredCaKeys(deps, name, run.record.state, now);
    }
    await consumers.syncLeafCopies(world, deps.certificates, observed.full);
    const state = run.record.state;
    const observations = observed.observations();
    const counts = observed.consumerCounts(state, observations);
    return {
      authority: name,
      steps: run.steps,
      transitions: run.transitions,
      renewed: renewals.renewed,
      ...(renewals.earliestRows === undefined ? {} : { earliestRows: renewals.earliestRows }),
      state,
      status: observed.statusLine(state, observations, counts),
      gateWaitMs: gateWaitMs(state, now),
      cas: [...observations.caGenerations],
      consumers: { total: counts.total, holding: counts.holding, laggards: counts.laggards, failures: consumers.failures() },
    };
  } finally {
    await deps.state.releaseLease(name, owner);
  }
}

interface StepsRun {
  record: StoredState;
  steps: Step[];
  /** The entries this run recorded, collected per write: a later write may archive them. */
  transitions: Transition[];
  /**
   * A step that fails (a CA secret deleted by hand, say) must not stop the renewals: the leaves of
   * the signer would expire behind a rotation that cannot move. It is thrown once they are done.
   */
  failure?: { error: unknown };
}

/** Decides, performs and records steps until the machine waits, the budget is spent, or a step fails. */
async function runSteps(deps: EngineDeps, observed: AuthorityObservation, stored: StoredState, options: TickOptions): Promise<StepsRun> {
  const { now } = options;
  const { world, consumers } = observed;
  const name = world.authority.name;
  const run: StepsRun = { record: stored, steps: [], transitions: [] };
  const actor: Actor = { kind: 'schedule' };
  const outOfTime = options.outOfTime ?? (() => false);
  try {
    for (let i = 0; i < (options.maxSteps ?? DEFAULT_MAX_STEPS) && !outOfTime(); i++) {
      if (observed.full || needsEveryLeaf(run.record.state, world, now)) await observed.readEveryLeaf();
      const observations: Observations = observed.observations();
      const decision = decide(run.record.state, observations, world.authority.rotation, now, actor);
      const performed = await perform(deps, world, consumers, decision.step, decision.state, now, outOfTime);
      // Cut short by the time budget: record nothing; the next run observes what was done.
      if (!performed.complete) break;
      if (JSON.stringify(decision.state) !== JSON.stringify(run.record.state)) {
        try {
          const written = await writeRotationState(deps.state, name, decision.state, run.record, deps.historyBudget);
          const transitions = decision.state.history.slice(run.record.state.history.length);
          run.transitions.push(...transitions);
          for (const transition of transitions) deps.events.emit(phaseChangedEvent(name, transition));
          run.record = written;
        } catch (error) {
          if (!(error instanceof ConflictError)) throw error;
          // A command (or a run whose lease expired) wrote first: decide again from what is stored.
          run.record = await readState(deps, name, now);
          continue;
        }
      }
      if (decision.step.kind !== 'wait' || decision.step.until === undefined || decision.step.until > now) {
        run.steps.push(decision.step);
        if (decision.step.kind === 'none' || decision.step.kind === 'wait') break;
      }
      // Nothing could be written (the consumers it needed are down): the same step would come
      // back at once; the next run tries again.
      if (performed.stalled === true) break;
    }
  } catch (error) {
    run.failure = { error };
  }
  return run;
}
