/**
 * What the scheduled functions run: the engine's tick, one authority at a time so that each gets
 * its own log context and one failing authority does not stop the others, then the numbers the
 * alarms watch (days to the earliest expiry, age of the current phase).
 */
import { X509Certificate } from 'node:crypto';
import { isIntentRow, tick, type AuthorityReport, type EngineDeps } from '../engine/tick.js';
import { bundleOf, stageOf, type RotationState } from '../rotation/index.js';
import { historyEntry, type HistoryEntry } from './operations.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export type ScheduledKind = 'scan' | 'reconcile' | 'advance';

export interface ScheduledRun {
  kind: ScheduledKind;
  now: number;
  /** Lease owner: unique per invocation. */
  owner: string;
  /** True once the time budget is spent; checked before each authority and between steps. */
  outOfTime: () => boolean;
  /** Called before each authority is worked on (the handler scopes its log lines with it). */
  onAuthority?: (authority: string | undefined) => void;
}

export interface AuthorityOutcome {
  authority: string;
  skipped?: string;
  status: string;
  phase: string | null;
  steps: string[];
  transitions: HistoryEntry[];
  renewed: number;
  rotationsStarted: number;
  rotationsCompleted: number;
  /*
   * The next three are absent when the run did not look at the authority (another run held it, or
   * it failed): a made-up zero would reset the alarms that watch for a stuck rotation.
   */
  /** Hours since the current phase began; 0 when Stable with nothing under way. */
  phaseAgeHours?: number;
  /** Hours the current gate has waited to be met (consumers, leaves); 0 once met, in Stable, or paused. */
  gateWaitHours?: number;
  /** Consumers not holding the bundle at the end of the run, named (`prod-eu kube-system/cluster-ca lacks [2]`). */
  laggingConsumers?: string[];
  /** Days until the earliest leaf or trusted CA expires (scan and reconcile only). */
  daysToEarliestExpiry?: number;
  error?: unknown;
}

export interface ScheduledResult {
  kind: ScheduledKind;
  authorities: AuthorityOutcome[];
  /** Authorities left for the next run because the time budget ran out. */
  deferred: string[];
}

/** Advance only touches authorities with something under way (or not bootstrapped yet). */
function needsAdvance(state: RotationState | undefined): boolean {
  return state === undefined || stageOf(state) !== 'stable';
}

export async function runScheduled(deps: EngineDeps, run: ScheduledRun): Promise<ScheduledResult> {
  const result: ScheduledResult = { kind: run.kind, authorities: [], deferred: [] };
  for (const authority of deps.config.authorities) {
    const name = authority.name;
    if (run.outOfTime()) {
      result.deferred.push(name);
      continue;
    }
    run.onAuthority?.(name);
    // Renewals also happen in a run that then fails (a rotation step that cannot go on): counted
    // from their events, so the failed outcome does not say 0.
    let renewedInRun = 0;
    const events = {
      emit(event: Parameters<EngineDeps['events']['emit']>[0]) {
        if (event.type === 'leaves-renewed' && typeof event.detail.count === 'number') renewedInRun += event.detail.count;
        deps.events.emit(event);
      },
    };
    try {
      if (run.kind === 'advance' && !needsAdvance((await deps.state.readState(name))?.state)) continue;
      const [report] = await tick({ ...deps, events }, {
        now: run.now,
        owner: run.owner,
        mode: run.kind === 'reconcile' ? 'reconcile' : 'scan',
        authorities: [name],
        outOfTime: run.outOfTime,
      });
      if (report === undefined) continue;
      const outcome = outcomeOf(report, run.now);
      if (run.kind !== 'advance' && report.state !== undefined) {
        const days = await daysToEarliestExpiry(deps, name, report.state, run.now);
        if (days !== undefined) outcome.daysToEarliestExpiry = days;
      }
      result.authorities.push(outcome);
    } catch (error) {
      result.authorities.push({
        authority: name,
        status: `${name}: failed`,
        phase: null,
        steps: [],
        transitions: [],
        renewed: renewedInRun,
        rotationsStarted: 0,
        rotationsCompleted: 0,
        error,
      });
    }
  }
  run.onAuthority?.(undefined);
  return result;
}

function outcomeOf(report: AuthorityReport, now: number): AuthorityOutcome {
  const { state } = report;
  const outcome: AuthorityOutcome = {
    authority: report.authority,
    status: report.status,
    phase: state?.phase ?? null,
    steps: report.steps.map((step) => step.kind),
    transitions: report.transitions.map(historyEntry),
    renewed: report.renewed.length,
    rotationsStarted: report.transitions.filter((t) => t.from === 'Stable' && t.to === 'Prepared' && t.generation > 0).length,
    rotationsCompleted: report.transitions.filter((t) => t.from === 'LeavesMigrated' && t.to === 'Stable').length,
  };
  if (report.skipped !== undefined) {
    outcome.skipped = report.skipped;
    return outcome;
  }
  outcome.phaseAgeHours = state === undefined || stageOf(state) === 'stable' ? 0 : Math.round(((now - state.phaseSince) / HOUR) * 100) / 100;
  outcome.gateWaitHours = Math.round((report.gateWaitMs / HOUR) * 100) / 100;
  outcome.laggingConsumers = report.consumers.laggards;
  return outcome;
}

/** From the inventory rows (one query) and the trusted CAs' certificates. */
async function daysToEarliestExpiry(deps: EngineDeps, authority: string, state: RotationState, now: number): Promise<number | undefined> {
  // Intent rows describe no certificate yet (a missing leaf is reported as a leaf problem instead).
  const expiries = (await deps.state.readAllLeafRows(authority)).filter((row) => !isIntentRow(row)).map((row) => row.notAfter);
  for (const generation of bundleOf(state)) {
    const ca = await deps.certificates.readCa(authority, generation);
    if (ca !== undefined) expiries.push(Date.parse(new X509Certificate(ca.certificatePem).validTo));
  }
  if (expiries.length === 0) return undefined;
  return Math.round(((Math.min(...expiries) - now) / DAY) * 100) / 100;
}
