/**
 * The AWS JSON protocol's plumbing (JSON 1.0 for DynamoDB, 1.1 for Secrets Manager): POST /,
 * `X-Amz-Target: <prefix>.<Operation>`, a SigV4-signed JSON object in, a JSON object out, and
 * errors as `{ __type, message }` with the error's status and an `x-amzn-ErrorType` header.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { AwsError } from './aws-error.js';
import { headerValue, readBody } from './http.js';
import { verifySignature, type SignatureCheck } from './sigv4.js';

export type Json = Record<string, unknown>;

/** How a service spells its answers. */
export interface JsonProtocol {
  /** `application/x-amz-json-1.1`, `application/x-amz-json-1.0`, or `application/json` (REST-JSON). */
  contentType: string;
  /** Put before every error's `__type`, e.g. DynamoDB's `com.amazon.coral.service#`. */
  typePrefix?: string;
}

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Answers a JSON body with a fresh request id (and the error type, for an error). */
export function sendJson(res: ServerResponse, status: number, body: unknown, contentType: string, errorType?: string): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(payload),
    'x-amzn-RequestId': randomUUID(),
    ...(errorType === undefined ? {} : { 'x-amzn-ErrorType': errorType }),
  });
  res.end(payload);
}

/** Answers an error in the JSON protocol's shape, `{ __type, message }`. */
export function sendJsonError(res: ServerResponse, error: AwsError, protocol: JsonProtocol): void {
  const type = `${protocol.typePrefix ?? ''}${error.type}`;
  sendJson(res, error.status, { __type: type, message: error.message }, protocol.contentType, error.type);
}

/** The operation an `X-Amz-Target: <prefix><Operation>` header names. */
export function targetOperation(req: IncomingMessage, prefix: string): string {
  const target = headerValue(req, 'x-amz-target') ?? '';
  if (!target.startsWith(prefix)) throw new AwsError('UnknownOperationException', `Unknown target: ${target}.`);
  return target.slice(prefix.length);
}

/** The request body as a JSON object (an empty body is `{}`). */
export function parseJsonObject(body: Buffer): Json {
  let input: unknown;
  try {
    input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    throw new AwsError('SerializationException', 'The request body is not valid JSON.');
  }
  if (!isRecord(input)) throw new AwsError('SerializationException', 'The request body must be a JSON object.');
  return input;
}

export interface JsonServiceOptions {
  protocol: JsonProtocol;
  /** `secretsmanager.`: what X-Amz-Target starts with. */
  targetPrefix: string;
  maxBodyBytes: number;
  signature: SignatureCheck;
  now: () => number;
  /** The `__type` of an unexpected failure (500). */
  internalError: string;
  /** Runs one authenticated operation; its answer (or what it resolves to) is the response body. */
  run: (operation: string, input: Json) => Json | Promise<Json>;
}

/** An HTTP server for a JSON-protocol service: body, POST, signature, target, JSON, then `run`. */
export function jsonServiceServer(options: JsonServiceOptions): Server {
  const { protocol } = options;
  async function handle(req: IncomingMessage): Promise<Json> {
    const tooLarge = (): AwsError => new AwsError('SerializationException', 'Request body too large.', 413);
    const body = await readBody(req, { maxBytes: options.maxBodyBytes, tooLarge });
    if (req.method !== 'POST') throw new AwsError('UnknownOperationException', 'Only POST / is supported.', 404);
    await verifySignature(req, body, options.signature, options.now());
    const operation = targetOperation(req, options.targetPrefix);
    return options.run(operation, parseJsonObject(body));
  }
  return createServer((req, res) => {
    handle(req).then(
      (output) => sendJson(res, 200, output, protocol.contentType),
      (error: unknown) => {
        const failure = error instanceof AwsError ? error : new AwsError(options.internalError, 'An internal error occurred.', 500);
        sendJsonError(res, failure, protocol);
      },
    );
  });
}

/**
 * A REST-JSON service (EKS, API Gateway): `handle` answers each request with a status and a body;
 * an AwsError becomes its JSON error (`x-amzn-ErrorType`), anything else `internalError` (500).
 */
export function restJsonServer(handle: (req: IncomingMessage) => Promise<{ status: number; body: unknown }>, internalError: string): Server {
  return createServer((req, res) => {
    handle(req).then(
      (answer) => sendJson(res, answer.status, answer.body, 'application/json'),
      (error: unknown) => {
        const failure = error instanceof AwsError ? error : new AwsError(internalError, 'An internal error occurred.', 500);
        sendJson(res, failure.status, { message: failure.message }, 'application/json', failure.type);
      },
    );
  });
}
