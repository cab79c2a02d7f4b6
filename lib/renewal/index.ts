export {
  defaultRenewalPolicy,
  dueLeaves,
  fnv1a32,
  jitterOf,
  renewAt,
  validateRenewalPolicy,
} from './policy.js';
export type { DueLeaf, LeafCondition, LeafProblem, RenewalFieldNames, RenewalPolicy, RenewalReason } from './policy.js';
