/**
 * The scheduled use cases (the hourly scan, the daily reconcile, the 5-minute advance): the tick,
 * one authority at a time so that each gets its own log context and one failing authority does
 * not stop the others, then the numbers the alarms watch (days to the earliest expiry, age of the
 * current phase). The Lambdas and `npm start` both run this.
 */
import { stageOf, type RotationState } from '../rotation/index.js';
import type { EngineDeps } from './deps.js';
import { daysUntil, earliestExpiry } from './expiry.js';
import { historyEntry, type HistoryEntry } from './history.js';
import { isIntentRow } from './reissue.js';
import { tick, type AuthorityReport } from './tick.js';

const HOUR = 3_600_000;

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
  /** Only these authorities (all configured ones when absent). */
  authorities?: readonly string[];
  /** Steps per authority at most (the tick's default when absent). */
  maxSteps?: number;
  /**
   * True for a run that goes on with the authorities of one just made at the same instant (the
   * simulation's one-step rounds): they were chosen already, and that run gave the alarm numbers.
   */
  continuing?: boolean;
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
  /** The tick's report of every authority it ran on, in order. */
  reports: AuthorityReport[];
}

/**
 * Which authorities the 5-minute advance works on: those with something under way (a rotation, or
 * the retirement of the CA it replaced) or not bootstrapped yet. The hourly scan looks after the rest.
 */
export function isUnderWay(state: RotationState | undefined): boolean {
  return state === undefined || stageOf(state) !== 'stable' || state.retiring !== undefined;
}

export async function runScheduled(deps: EngineDeps, run: ScheduledRun): Promise<ScheduledResult> {
  const result: ScheduledResult = { kind: run.kind, authorities: [], deferred: [], reports: [] };
  const wanted = run.authorities === undefined ? undefined : new Set(run.authorities);
  for (const authority of deps.config.authorities) {
    const name = authority.name;
    if (wanted !== undefined && !wanted.has(name)) continue;
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
      if (run.kind === 'advance' && run.continuing !== true && !isUnderWay((await deps.state.readState(name))?.state)) continue;
      const [report] = await tick({ ...deps, events }, {
        now: run.now,
        owner: run.owner,
        mode: run.kind === 'reconcile' ? 'reconcile' : 'scan',
        authorities: [name],
        outOfTime: run.outOfTime,
        ...(run.maxSteps === undefined ? {} : { maxSteps: run.maxSteps }),
      });
      if (report === undefined) continue;
      result.reports.push(report);
      const outcome = outcomeOf(report, run.now);
      if (run.kind !== 'advance' && run.continuing !== true && report.state !== undefined) {
        const days = await daysToEarliestExpiry(deps, report, report.state, run.now, run.kind === 'reconcile');
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

/**
 * From the inventory rows and the trusted CAs the run observed. The hourly scan uses only the rows
 * that can hold the earliest notAfter (those within the jitter window of the earliest renewAt:
 * each row's notAfter is its renewAt plus renewBefore plus its jitter), not the whole inventory:
 * as its renewals read and left them (report.earliestRows), or read here when they read none; the
 * daily reconcile, which has just made every row match its leaf, reads them all.
 */
async function daysToEarliestExpiry(deps: EngineDeps, report: AuthorityReport, state: RotationState, now: number, everyRow: boolean): Promise<number | undefined> {
  const { authority, cas } = report;
  const rows = everyRow
    ? await deps.state.readAllLeafRows(authority)
    : (report.earliestRows ?? (await deps.state.readEarliestLeafRows(authority, deps.config.renewal.jitterWindowMs)));
  // Intent rows describe no certificate yet (a missing leaf is reported as a leaf problem instead).
  const leaves = rows.filter((row) => !isIntentRow(row)).map((row) => ({ what: `leaf ${row.id}`, notAfter: row.notAfter }));
  const earliest = earliestExpiry(state, leaves, cas);
  return earliest === undefined ? undefined : daysUntil(earliest.notAfter, now);
}
