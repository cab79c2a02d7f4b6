/**
 * Crash injection for the engine's integration tests. A middleware on the real SDK clients counts
 * every completed external call (a service error completes a call too); armed with k, it lets the
 * k-th call reach the server and then throws SimulatedCrash instead of returning its result. From
 * then on the process is dead: every call of that run, in flight or new, throws SimulatedCrash and
 * a new one is never sent, until the test disarms the injector to start the next run.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { S3Client } from '@aws-sdk/client-s3';
import type { AwsClients } from '../../lib/aws/clients.js';

export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

export interface CrashInjector {
  /** Completed calls since the last reset, in order, by command name. */
  readonly log: readonly string[];
  /** True once the armed call completed, until disarmed. */
  readonly crashed: boolean;
  /** Crash right after the k-th completed call counted from the last reset (1-based). */
  arm(k: number): void;
  /** Waits until no call of the dead run is in flight any more, then lets calls through again. */
  disarm(): Promise<void>;
  /** Starts counting from zero. */
  reset(): void;
}

const NAME = 'certrotateSimulatedCrash';

function pause(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 25));
}

/** Installs one injector on both SDK clients of an environment: one process, one crash. */
export function installCrashInjector(
  clients: Pick<AwsClients, 'dynamodb' | 'secretsManager' | 'secretsManagerWrites'>,
  /** More clients of the same process (the local environment's KMS client). */
  more: readonly KMSClient[] = [],
  /** The S3 client of the environment's leaf bucket, when it has one. */
  s3?: S3Client,
): CrashInjector {
  const log: string[] = [];
  let armedAt: number | undefined;
  let dead = false;
  let inFlight = 0;

  function guard<A, R>(next: (args: A) => Promise<R>, commandName: string): (args: A) => Promise<R> {
    return async (args) => {
      if (dead) throw new SimulatedCrash(`${commandName} not sent: the process crashed`);
      inFlight++;
      let outcome: { ok: true; value: R } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, value: await next(args) };
      } catch (error) {
        outcome = { ok: false, error };
      } finally {
        inFlight--;
      }
      if (dead) throw new SimulatedCrash(`${commandName} completed after the crash: its result is never seen`);
      log.push(commandName);
      if (log.length === armedAt) {
        dead = true;
        throw new SimulatedCrash(`crashed right after call ${log.length} (${commandName})`);
      }
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    };
  }

  clients.dynamodb.middlewareStack.add((next, context) => guard(next, context.commandName ?? 'dynamodb'), { step: 'initialize', name: NAME });
  for (const client of [clients.secretsManager, clients.secretsManagerWrites]) {
    client.middlewareStack.add((next, context) => guard(next, context.commandName ?? 'secretsmanager'), { step: 'initialize', name: NAME });
  }
  for (const client of more) {
    client.middlewareStack.add((next, context) => guard(next, context.commandName ?? 'kms'), { step: 'initialize', name: NAME });
  }
  s3?.middlewareStack.add((next, context) => guard(next, context.commandName ?? 's3'), { step: 'initialize', name: NAME });

  return {
    log,
    get crashed() {
      return dead;
    },
    arm(k) {
      if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`crash point must be a positive integer, got ${k}`);
      armedAt = k;
    },
    async disarm() {
      // Stray workers of the dead run may still be in flight or between two calls: let them die.
      await pause();
      while (inFlight > 0) await pause();
      await pause();
      armedAt = undefined;
      dead = false;
    },
    reset() {
      log.length = 0;
    },
  };
}
