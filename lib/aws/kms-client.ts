/**
 * The KMS client, loaded on first use: @aws-sdk/client-kms is left out of the function bundles
 * (infra/bundling.ts; the Lambda runtime provides it), so a deployment whose authorities keep
 * their keys in secrets never loads it.
 */
import type * as KmsSdk from '@aws-sdk/client-kms';
import type { KMSClient } from '@aws-sdk/client-kms';
import { clientDefaults, type AwsClientOptions } from './clients.js';

let kmsModule: Promise<typeof KmsSdk> | undefined;

export function loadKms(): Promise<typeof KmsSdk> {
  kmsModule ??= import('@aws-sdk/client-kms');
  return kmsModule;
}

export interface KmsClientSource {
  /** The client, created on the first call. */
  client(): Promise<KMSClient>;
  destroy(): void;
}

/**
 * One KMS client, one attempt per call: the adapter retries and paces calls itself (Sign has a
 * per-second quota shared by the account), and never retries a CreateKey that may have succeeded.
 */
export function kmsClientSource(options: Pick<AwsClientOptions, 'region' | 'credentials' | 'timeouts'> & { endpoint?: string }): KmsClientSource {
  let created: Promise<KMSClient> | undefined;
  let client: KMSClient | undefined;
  return {
    client() {
      created ??= loadKms().then((sdk) => {
        client = new sdk.KMSClient({ ...clientDefaults(options, 1), ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }) });
        return client;
      });
      return created;
    },
    destroy() {
      client?.destroy();
    },
  };
}
