/** What every use case of the engine works with: the ports, the configuration and a few limits. */
import type { CertrotateConfig } from '../config/index.js';
import type { CertificateStore, ConsumerPublisher, EventSink, StateStore } from '../ports.js';
import type { RotationState } from '../rotation/index.js';
import type { HistoryBudget } from './history.js';

export interface EngineDeps {
  certificates: CertificateStore;
  state: StateStore<RotationState>;
  events: EventSink;
  config: CertrotateConfig;
  /** Secret writes in flight at once; the store's write limiter still caps the rate. */
  writeConcurrency?: number;
  /** Publishes to the consumers outside the store (EKS); without it, EKS targets are not observed. */
  publisher?: ConsumerPublisher;
  /** How much audit history the state item holds before old entries move to the archive. */
  historyBudget?: HistoryBudget;
}
