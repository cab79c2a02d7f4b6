/**
 * The sandbox's EventBridge Scheduler: on the simulated clock, the hourly scan (`{"mode":"scan"}`,
 * `{"mode":"reconcile"}` at midnight) and the 5-minute advance (`{}`), as the stack schedules
 * them. Invocations run one at a time; slots missed while one ran (the clock runs fast) are
 * coalesced into one, as a late schedule would deliver them.
 */
import type { Clock } from '../../ports.js';
import { slotsAt } from './clock.js';

type Slots = ReturnType<typeof slotsAt>;

export interface ScheduledInvocation {
  fn: 'scan' | 'advance';
  event: Record<string, unknown>;
}

export interface SchedulerOptions {
  clock: Clock;
  /** Runs one invocation; a rejection is reported through `onError` and the schedule goes on. */
  invoke: (invocation: ScheduledInvocation, now: number) => Promise<void>;
  onError: (error: unknown) => void;
  /** Wall milliseconds between looks at the clock. */
  pollMs?: number;
}

export interface Scheduler {
  stop(): Promise<void>;
}

/** The invocations due at `now`, given the slots fired last (undefined: nothing fired yet, a scan first). */
export function dueInvocations(now: number, last: Slots | undefined): ScheduledInvocation[] {
  const slots = slotsAt(now);
  const due: ScheduledInvocation[] = [];
  if (last === undefined || slots.hour > last.hour) {
    const reconcile = last === undefined || slots.day > last.day;
    due.push({ fn: 'scan', event: { mode: reconcile ? 'reconcile' : 'scan' } });
  }
  if (last === undefined || slots.advance > last.advance) due.push({ fn: 'advance', event: {} });
  return due;
}

export function startScheduler(options: SchedulerOptions): Scheduler {
  let last: Slots | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      const now = options.clock.now();
      const due = dueInvocations(now, last);
      last = slotsAt(now);
      for (const invocation of due) {
        if (stopped) break;
        try {
          await options.invoke(invocation, options.clock.now());
        } catch (error) {
          options.onError(error);
        }
      }
      if (due.length === 0 && !stopped) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, options.pollMs ?? 50);
        });
      }
    }
  };
  const running = loop();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await running;
    },
  };
}
