/** What `npm start` reports: per authority, the totals, and the fronts of the AWS trust targets. */
import type { Transition } from '../rotation/index.js';
import type { ConsumerCounts } from './aws-trust.js';

export interface AuthoritySummary {
  name: string;
  adoptedCa: boolean;
  caKeyStore: 'kms' | 'secret';
  /** Where its leaves live (`npm start` keeps one authority's in the local S3 leaf bucket). */
  leafStore: 'secretsmanager' | 's3';
  caGenerations: number;
  rotations: number;
  scheduledRotations: number;
  forcedRotations: number;
  leavesRenewed: number;
  handshakes: number;
  failedHandshakes: number;
  expiredServed: number;
  failedDailyChecks: number; // daily chain checks (not handshakes) that found a peer that would not verify
}

export interface SimulationResult {
  days: number;
  seed: number;
  authorities: AuthoritySummary[];
  totals: { rotations: number; leavesRenewed: number; handshakes: number; failedHandshakes: number; expiredServed: number; failedDailyChecks: number };
  /** Every transition per authority, for comparing runs. */
  history: Record<string, Transition[]>;
  /** The first failures, for the operator to read. */
  failures: string[];
  ticks: number;
  consumers?: ConsumerCounts;
}
