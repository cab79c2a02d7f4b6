/** Recognising DynamoDB's errors, shared by the adapters that write conditionally. */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/** A conditional write found the item in another state than it required. */
export function isConditionalCheckFailed(error: unknown): boolean {
  return isErrorNamed(error, ConditionalCheckFailedException, 'ConditionalCheckFailedException');
}

/** instanceof, or the name, for when two copies of the SDK are bundled. */
export function isErrorNamed(
  error: unknown,
  type: abstract new (...args: never[]) => Error,
  name: string,
): boolean {
  return error instanceof type || (error instanceof Error && error.name === name);
}
