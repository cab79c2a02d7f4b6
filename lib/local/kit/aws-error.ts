/** An error a local AWS endpoint answers in its service's own shape: the code (`__type`), a message, the HTTP status. */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/** The credentials the local AWS endpoints (Secrets Manager, DynamoDB) accept unless told otherwise. */
export const LOCAL_CREDENTIALS: Readonly<{ accessKeyId: string; secretAccessKey: string }> = {
  accessKeyId: 'AKIDLOCALSECRETS',
  secretAccessKey: 'local-secret-access-key',
};
