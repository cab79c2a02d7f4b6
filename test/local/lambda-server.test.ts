/** The local Lambda Invoke endpoint, driven by the real LambdaClient: the wire shapes a caller relies on. */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../lib/local/kit/aws-error.js';
import { startLocalLambda, type LocalLambda } from '../../lib/local/lambda/server.js';

let lambda: LocalLambda;
const seen: unknown[] = [];
const clientWith = (credentials = LOCAL_CREDENTIALS) => new LambdaClient({ endpoint: lambda.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
const decode = (bytes: Uint8Array | undefined): unknown => JSON.parse(Buffer.from(bytes ?? new Uint8Array()).toString('utf8'));

beforeAll(async () => {
  lambda = await startLocalLambda({
    region: 'us-east-1',
    credentials: LOCAL_CREDENTIALS,
    functions: {
      echo: async (event, context) => {
        seen.push(event);
        return Promise.resolve({ event, functionName: context.functionName, remaining: context.getRemainingTimeInMillis() > 0 });
      },
      broken: () => Promise.reject(new RangeError('out of range')),
    },
    describe: () => ({ sandbox: true }),
  });
});

afterAll(() => lambda.stop());

describe('the local Lambda Invoke endpoint', () => {
  it('runs a function with the payload as its event and answers what it returns (200)', async () => {
    const client = clientWith();
    const answer = await client.send(new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from(JSON.stringify({ action: 'status' })) }));
    expect(answer.StatusCode).toBe(200);
    expect(answer.FunctionError).toBeUndefined();
    expect(answer.ExecutedVersion).toBe('$LATEST');
    expect(decode(answer.Payload)).toEqual({ event: { action: 'status' }, functionName: 'echo', remaining: true });
    client.destroy();
  });

  it('answers a function that throws as Lambda does: 200, X-Amz-Function-Error Unhandled, errorType and errorMessage', async () => {
    const client = clientWith();
    const answer = await client.send(new InvokeCommand({ FunctionName: 'broken', Payload: Buffer.from('{}') }));
    expect(answer.StatusCode).toBe(200);
    expect(answer.FunctionError).toBe('Unhandled');
    expect(decode(answer.Payload)).toEqual({ errorType: 'RangeError', errorMessage: 'out of range' });
    client.destroy();
  });

  it('answers Event with 202 (run in the background) and DryRun with 204 (not run)', async () => {
    const client = clientWith();
    seen.length = 0;
    const dry = await client.send(new InvokeCommand({ FunctionName: 'echo', InvocationType: 'DryRun', Payload: Buffer.from('{"n":1}') }));
    expect(dry.StatusCode).toBe(204);
    const event = await client.send(new InvokeCommand({ FunctionName: 'echo', InvocationType: 'Event', Payload: Buffer.from('{"n":2}') }));
    expect(event.StatusCode).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toEqual([{ n: 2 }]);
    client.destroy();
  });

  it('refuses an unknown function (ResourceNotFoundException), a bad signature, and unparsable JSON', async () => {
    const client = clientWith();
    await expect(client.send(new InvokeCommand({ FunctionName: 'absent', Payload: Buffer.from('{}') }))).rejects.toMatchObject({ name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 404 } });
    await expect(client.send(new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from('{not json') }))).rejects.toMatchObject({ name: 'InvalidRequestContentException' });
    client.destroy();
    const forged = clientWith({ accessKeyId: LOCAL_CREDENTIALS.accessKeyId, secretAccessKey: 'wrong' });
    await expect(forged.send(new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from('{}') }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    forged.destroy();
  });

  it('describes itself on GET /', async () => {
    expect(await (await fetch(lambda.endpoint)).json()).toEqual({ sandbox: true });
  });
});
