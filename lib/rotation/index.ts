export { applyCommand, commandEntry, describePhase, type CommandContext } from './commands.js';
export { defaultRotationConfig, validateRotationConfig } from './config.js';
export type { RotationConfig, RotationFieldNames } from './config.js';
export { decide, holdsExactly, liveGenerations } from './decide.js';
export { formatDuration, formatGenerations } from './format.js';
export { PHASES, parseRotationState } from './parse.js';
export { HISTORY_BUDGET, compactHistory, firstHistorySequence, nextHistorySequence } from './history.js';
export type { CompactedHistory } from './history.js';
export { bundleOf, initialRotationState, phaseFraction, signerOf, stageOf, targetOf } from './state.js';
export { describeStep, migrationPace, plan, statusLine } from './status.js';
export type { Plan } from './status.js';
export type {
  Actor,
  CommandName,
  Decision,
  Observations,
  ObservedCa,
  ObservedConsumer,
  ObservedLeaf,
  Phase,
  RotationCommand,
  RotationState,
  Stage,
  Step,
  Transition,
} from './types.js';
