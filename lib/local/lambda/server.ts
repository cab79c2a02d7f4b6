/**
 * A local Lambda Invoke endpoint speaking the real REST wire protocol, so the real
 * `LambdaClient` (and the CLI) talk to it unchanged: `POST /2015-03-31/functions/<name>/invocations`,
 * SigV4-signed for `lambda`, the payload as the body; `X-Amz-Invocation-Type` RequestResponse (200,
 * the function's answer), Event (202, run in the background) or DryRun (204). A function that throws
 * answers 200 with `X-Amz-Function-Error: Unhandled` and `{ errorType, errorMessage }`, as Lambda's
 * Node runtime does; an unknown function is `ResourceNotFoundException` (404).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Context } from 'aws-lambda';
import { AwsError } from '../kit/aws-error.js';
import { closeServer, listenOnLoopback, readBody } from '../kit/http.js';
import { sendJson } from '../kit/json-protocol.js';
import { JSON_SIGNATURE_ERRORS, verifySignature } from '../kit/sigv4.js';

export type LocalHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface InvokeResult {
  payload: unknown;
  /** `Unhandled` when the function threw. */
  functionError?: 'Unhandled';
}

export interface LocalLambdaOptions {
  functions: Readonly<Record<string, LocalHandler>>;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The time budget every invocation's context reports (a Lambda timeout). */
  timeoutMs?: number;
  /** Answers a GET on `/` (the sandbox describes itself there); 404 when absent. */
  describe?: () => unknown;
  port?: number;
}

export interface LocalLambda {
  endpoint: string;
  /** Runs a function in this process exactly as the endpoint does (the scheduler uses it). */
  invoke(name: string, event: unknown): Promise<InvokeResult>;
  stop(): Promise<void>;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

function contextFor(name: string, region: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${name}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `local/[$LATEST]${randomUUID().replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** The function name of an ARN or a plain name (`name:qualifier` keeps only the name). */
function functionName(raw: string): string {
  const decoded = decodeURIComponent(raw);
  const arn = /^arn:aws[a-z-]*:lambda:[^:]+:\d+:function:([^:]+)/.exec(decoded);
  return arn?.[1] ?? decoded.split(':')[0] ?? decoded;
}

export async function startLocalLambda(options: LocalLambdaOptions): Promise<LocalLambda> {
  const timeoutMs = options.timeoutMs ?? 900_000;
  const check = {
    service: 'lambda',
    region: options.region,
    identityFor: (id: string) => (id === options.credentials.accessKeyId ? options.credentials : undefined),
    codes: JSON_SIGNATURE_ERRORS,
  };
  async function invoke(name: string, event: unknown): Promise<InvokeResult> {
    const handler = options.functions[name];
    if (handler === undefined) throw new AwsError('ResourceNotFoundException', `Function not found: arn:aws:lambda:${options.region}:000000000000:function:${name}`, 404);
    try {
      return { payload: (await handler(event, contextFor(name, options.region, timeoutMs))) ?? null };
    } catch (error) {
      const errorType = error instanceof Error ? error.name : 'Error';
      return { payload: { errorType, errorMessage: error instanceof Error ? error.message : String(error) }, functionError: 'Unhandled' };
    }
  }
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const tooLarge = (): AwsError => new AwsError('RequestTooLargeException', 'Request must be smaller than 6291456 bytes for the InvokeFunction operation', 413);
    const body = await readBody(req, { maxBytes: MAX_PAYLOAD_BYTES, tooLarge });
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/' && options.describe !== undefined) return sendJson(res, 200, options.describe(), 'application/json');
    const match = INVOKE_PATH.exec(path);
    if (req.method !== 'POST' || match?.[1] === undefined) throw new AwsError('UnknownOperationException', `No operation at ${req.method ?? ''} ${path}.`, 404);
    await verifySignature(req, body, check, Date.now());
    const name = functionName(match[1]);
    let event: unknown;
    try {
      event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      throw new AwsError('InvalidRequestContentException', 'Could not parse request body into json', 400);
    }
    const type = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
    if (options.functions[name] === undefined) await invoke(name, event);
    if (type === 'DryRun') return void res.writeHead(204, { 'x-amzn-RequestId': randomUUID() }).end();
    if (type === 'Event') {
      void invoke(name, event);
      return void res.writeHead(202, { 'x-amzn-RequestId': randomUUID() }).end();
    }
    const result = await invoke(name, event);
    const text = JSON.stringify(result.payload);
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      'x-amzn-RequestId': randomUUID(),
      'X-Amz-Executed-Version': '$LATEST',
      ...(result.functionError === undefined ? {} : { 'X-Amz-Function-Error': result.functionError }),
    });
    res.end(text);
  }
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const failure = error instanceof AwsError ? error : new AwsError('ServiceException', 'An internal error occurred.', 500);
      sendJson(res, failure.status, { Type: failure.status < 500 ? 'User' : 'Service', message: failure.message }, 'application/json', failure.type);
    });
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  return { endpoint: `http://127.0.0.1:${port}`, invoke, stop: () => closeServer(server) };
}
