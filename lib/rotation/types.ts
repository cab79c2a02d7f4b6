/**
 * The data the phase machine works on. Everything here is plain JSON-serializable data, so the
 * state can be stored as-is in DynamoDB and compared in tests.
 */

/** The four phases of a CA rotation (DESIGN.md). */
export type Phase = 'Stable' | 'Prepared' | 'TrustExpanded' | 'LeavesMigrated';

/**
 * Where exactly the machine is: a phase plus the flags that refine it. Derived from the state by
 * `stageOf`, never stored as its own field, so it cannot disagree with the flags.
 * - `contracting`: LeavesMigrated with the old CA dropped from the bundle, waiting to retire it.
 * - `rollback-restore-trust`: rolling back from LeavesMigrated; the bundle goes back to [N, N+1]
 *   while the signer stays N+1.
 * - `rollback-reissue`: signer back to N; every leaf not from N is reissued from N.
 * - `rollback-drop`: N+1 leaves the bundle; once every consumer holds [N] the rotation is undone.
 */
export type Stage =
  | 'bootstrap'
  | 'stable'
  | 'prepared'
  | 'trust-expanded'
  | 'leaves-migrated'
  | 'contracting'
  | 'rollback-restore-trust'
  | 'rollback-reissue'
  | 'rollback-drop';

export type CommandName = 'rotate-ca' | 'pause' | 'resume' | 'rollback' | 'tick' | 'import-ca';

/** Who caused a transition: the schedule, or an operator command (idempotent by requestId). */
export type Actor =
  | { kind: 'schedule' }
  | { kind: 'command'; command: CommandName; requestId: string; reason?: string };

/** One entry of the audit history: every phase change, forwards or backwards, and every command. */
export interface Transition {
  from: Phase;
  to: Phase;
  at: number;
  why: string;
  by: Actor;
  /** The generation N the authority was on when this happened. */
  generation: number;
  /** The generation N+1 being rotated to, if a rotation was under way. */
  target?: number;
  emergency?: boolean;
}

export interface RotationState {
  authority: string;
  /** N: trusted and signing in Stable. 0 = not bootstrapped yet. */
  generation: number;
  phase: Phase;
  phaseSince: number;
  /** N+1 while rotating (and CA 1 while bootstrapping). */
  target?: number;
  /** LeavesMigrated only: N has been dropped from the bundle, N is retired once consumers agree. */
  contracting: boolean;
  rollingBack: boolean;
  /** The stage a rollback started from: it decides which soaks the walk back needs. */
  rollbackFrom?: Stage;
  paused: boolean;
  /** An emergency rotation skips every soak time (a compromised key); it still waits for consumers. */
  emergency: boolean;
  /** Set when an operator forced the rotation under way. */
  forced?: { requestId: string; reason: string; at: number };
  /**
   * First instant the current gate was observed met. Soak counts from here, not from phase entry,
   * because consumers may lag well behind the phase change.
   */
  gateMetAt?: number;
  /**
   * The last bundle sent to consumers, and when. A different bundle is sent to every consumer; the
   * same bundle is re-sent only to lagging consumers, at most once per `republishAfterMs`.
   */
  lastPublish?: { generations: number[]; at: number };
  /** Highest generation number ever used, abandoned ones included: numbers are never reused. */
  highestGeneration: number;
  abandoned: number[];
  /** Old CAs, never trusted again (kept for audit). */
  retired: number[];
  /** A retired CA whose retire-ca step has not been carried out yet. */
  retiring?: number;
  /** The newest entries of the audit history; older ones are in the archive (see history.ts). */
  history: Transition[];
  /**
   * How many older entries moved to the archive: the sequence number of `history[0]`. Absent in
   * states written before the archive existed, which means 0.
   */
  archivedHistory?: number;
}

export interface ObservedCa {
  generation: number;
  notBefore: number;
  notAfter: number;
}

export interface ObservedConsumer {
  id: string;
  /** Generations in the bundle this consumer holds, as read back; undefined = unreadable. */
  holds: readonly number[] | undefined;
}

export interface ObservedLeaf {
  id: string;
  /** Issuing generation of the leaf in the field; undefined = missing or unreadable. */
  generation: number | undefined;
}

/** What the tick read from the world just before deciding. */
export interface Observations {
  /** CAs in the store. */
  caGenerations: readonly ObservedCa[];
  consumers: readonly ObservedConsumer[];
  leaves: readonly ObservedLeaf[];
}

/**
 * One "ensure" operation for the tick to carry out. Each is idempotent: performing it twice, or
 * performing it and crashing before the state is recorded, converges.
 */
export type Step =
  | { kind: 'generate-ca'; generation: number }
  | {
      kind: 'publish-bundle';
      /** Signer first. */
      generations: number[];
      /** Who to write: every consumer when the bundle changes, otherwise only the lagging ones. */
      consumers: string[];
    }
  | { kind: 'reissue-leaves'; generation: number; leafIds: string[] }
  | { kind: 'retire-ca'; generation: number }
  | { kind: 'wait'; reason: string; until?: number }
  | { kind: 'none' };

/** `state` is what to record (conditionally) once `step` has been carried out, even for wait/none. */
export interface Decision {
  step: Step;
  state: RotationState;
}

export type RotationCommand =
  | { kind: 'rotate-ca'; requestId: string; reason: string; emergency: boolean }
  | { kind: 'pause'; requestId: string; reason?: string }
  | { kind: 'resume'; requestId: string; reason?: string }
  | { kind: 'rollback'; requestId: string; reason?: string };
