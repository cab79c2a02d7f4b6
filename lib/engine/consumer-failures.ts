/**
 * A consumer that could not be read or written, as a tick records it, emits it and names it for an
 * operator: `prod-eu kube-system/cluster-ca refused (HTTP 403)`, or with what the consumer itself
 * reported, `API Gateway domain api.example.com (...) truststore warnings: "Certificate CN=web is
 * not a CA certificate." (+2 more)`. What a consumer reports is bounded and quoted, and an item that
 * looks like key material is not shown.
 */
import { keyMaterialProblem } from '../config/validate.js';
import { ConflictError } from '../errors.js';
import { ConsumerRejectedError, ConsumerUnavailableError, type Consumer, type ConsumerFindings } from '../ports.js';

/** Items of a finding kept (the rest only counted), and the characters kept of each. */
const SHOWN_ITEMS = 5;
const ITEM_CHARACTERS = 160;

/** A consumer's findings as they may be shown: at most SHOWN_ITEMS items, each quoted and cut. */
export interface ShownFindings {
  /** `truststore warnings` */
  label: string;
  shown: string[];
  /** How many items the consumer reported. */
  total: number;
}

/** One consumer this tick could not read or write; its `location` (`clusterName`, `region`) is spread in. */
export interface ConsumerFailure {
  consumer: string;
  /** `prod-eu kube-system/cluster-ca` */
  target: string;
  action: 'read' | 'publish';
  kind: 'unavailable' | 'rejected' | 'conflict';
  /** The last HTTP status, when the consumer answered. */
  status?: number;
  message: string;
  /** What the consumer reported against what it holds (a refusal of its own), bounded. */
  findings?: ShownFindings;
  [where: string]: unknown;
}

/** One reported item as status may show it: quoted (JSON escapes), cut, never key material. */
export function quoteItem(item: string): string {
  if (keyMaterialProblem(item) !== undefined) return '(an item that looks like key material, not shown)';
  return JSON.stringify(item.length > ITEM_CHARACTERS ? `${item.slice(0, ITEM_CHARACTERS)}...` : item);
}

function shownFindings(findings: ConsumerFindings): ShownFindings {
  return { label: findings.label, shown: findings.items.slice(0, SHOWN_ITEMS).map(quoteItem), total: findings.items.length };
}

/** The failure record of `error`, or undefined when it is none of the consumer failures (a bug: let it through). */
export function consumerFailure(target: Consumer, error: unknown, action: ConsumerFailure['action']): ConsumerFailure | undefined {
  const base = { consumer: target.id, target: target.name, ...target.location, action };
  if (error instanceof ConsumerUnavailableError) {
    return { ...base, kind: 'unavailable', ...(error.status === undefined ? {} : { status: error.status }), message: error.message };
  }
  if (error instanceof ConsumerRejectedError) {
    const findings = error.findings === undefined || error.findings.items.length === 0 ? {} : { findings: shownFindings(error.findings) };
    return { ...base, kind: 'rejected', status: error.status, message: error.message, ...findings };
  }
  if (error instanceof ConflictError) return { ...base, kind: 'conflict', status: 409, message: error.message };
  return undefined;
}

/** What follows a consumer's name in status: `refused (HTTP 403)`, `truststore warnings: "..." (+2 more)`. */
export function describeFailure(failure: ConsumerFailure): string {
  const status = failure.status === undefined ? '' : ` (HTTP ${failure.status})`;
  switch (failure.kind) {
    case 'unavailable':
      return `unreachable${status}`;
    case 'rejected': {
      const findings = failure.findings;
      if (findings === undefined) return `refused${status}`;
      const more = findings.total > 1 ? ` (+${findings.total - 1} more)` : '';
      return `${findings.label}: ${findings.shown[0] ?? ''}${more}`;
    }
    case 'conflict':
      return 'conflicted (HTTP 409)';
  }
}
