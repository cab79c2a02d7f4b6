/**
 * How certrotate names and tags the KMS keys that hold its CA keys, as plain data with no SDK: the
 * adapter (lib/aws/kms-ca-keys.ts) creates keys by it and the CDK construct scopes its IAM
 * conditions by it (infra must not load an SDK client).
 */

/** Every CA key carries these tags; IAM lets the functions create and use only keys tagged so. */
export const CA_KEY_TAGS = {
  /** `certrotate:kind` = `ca-key`: what IAM's aws:RequestTag / aws:ResourceTag conditions check. */
  kind: 'certrotate:kind',
  /** The deployment's prefix: two deployments in one account never take each other's keys. */
  prefix: 'certrotate:prefix',
  authority: 'certrotate:authority',
  generation: 'certrotate:generation',
} as const;

export const CA_KEY_KIND = 'ca-key';

/** `alias/<prefix>/<authority>/<generation>`: the one name of a generation's key. */
export function caKeyAlias(prefix: string, authority: string, generation: number): string {
  return `alias/${prefix}/${authority}/${generation}`;
}

/** The longest wait KMS allows before deleting a key: a retired CA's key waits this long. */
export const CA_KEY_DELETION_WINDOW_DAYS = 30;
