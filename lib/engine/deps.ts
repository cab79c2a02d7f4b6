/** What every use case of the engine works with: the ports, the configuration and a few limits. */
import type { CertrotateConfig } from '../config/index.js';
import type { CaKeyService, CertificateStore, ConsumerRegistry, EventSink, StateStore } from '../ports.js';
import type { RotationState } from '../rotation/index.js';
import type { HistoryBudget } from './history.js';

export interface EngineDeps {
  certificates: CertificateStore;
  /** The KMS keys of authorities whose caKeyStore is `kms`; absent where no authority uses KMS. */
  caKeys?: CaKeyService;
  state: StateStore<RotationState>;
  events: EventSink;
  config: CertrotateConfig;
  /** Secret writes in flight at once; the store's write limiter still caps the rate. */
  writeConcurrency?: number;
  /** Leaf secrets a run reads (and holds) at once (lib/engine/world.ts LEAF_PAGE when absent). */
  leafPageSize?: number;
  /**
   * Every consumer of an authority, of every registered kind (lib/consumers): the store's own
   * secrets among them, so a composition root that leaves it out gates on nothing it writes.
   */
  consumers: ConsumerRegistry;
  /** How much audit history the state item holds before old entries move to the archive. */
  historyBudget?: HistoryBudget;
}
