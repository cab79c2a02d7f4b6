/**
 * The local DynamoDB: dynalite on a loopback port of its own, behind a small front that checks
 * every request's SigV4 signature (dynalite checks only that one is there) and hands the ones that
 * verify to dynalite's own handler, in this process. A forged or wrongly keyed request gets DynamoDB's own answer (400,
 * `com.amazon.coral.service#InvalidSignatureException` ...) and never reaches the table.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import dynalite from 'dynalite';
import { AwsError, LOCAL_CREDENTIALS } from './kit/aws-error.js';
import { listenOnLoopback, readBody } from './kit/http.js';
import { sendJsonError, type JsonProtocol } from './kit/json-protocol.js';
import { verifySignature, type SignatureCheck } from './kit/sigv4.js';

export interface LocalDynamoDB {
  /** `http://127.0.0.1:<port>`: pass as the DynamoDB client's `endpoint`. */
  endpoint: string;
  /** The credentials it accepts (any region): sign with these. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

const DYNAMODB_JSON: JsonProtocol = { contentType: 'application/x-amz-json-1.0', typePrefix: 'com.amazon.coral.service#' };

function signatureCheck(credentials: { accessKeyId: string; secretAccessKey: string }): SignatureCheck {
  return {
    service: 'dynamodb',
    region: undefined,
    identityFor: (id) => (id === credentials.accessKeyId ? credentials : undefined),
    // DynamoDB answers signature problems with 400, not 403.
    codes: {
      missing: 'MissingAuthenticationTokenException',
      incomplete: 'IncompleteSignatureException',
      unknownKey: 'UnrecognizedClientException',
      mismatch: 'InvalidSignatureException',
      status: 400,
    },
  };
}

type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * dynalite's own request handler, taken off its server: the front calls it in this process with
 * the verified request, instead of a second HTTP hop over loopback (which cost as much CPU again
 * per DynamoDB call as the call itself).
 */
function dynaliteHandler(backend: Server): RequestHandler {
  const [handler] = backend.listeners('request') as RequestHandler[];
  if (handler === undefined) throw new Error('dynalite created a server without a request handler');
  return handler;
}

/** The request as dynalite reads it (method, url, headers, then its body as a stream), with the body already read. */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = Readable.from(body.length === 0 ? [] : [body]) as unknown as IncomingMessage;
  return Object.assign(copy, { method: req.method, url: req.url, headers: req.headers });
}

/** The front: reads the body, verifies the signature of every POST (GET is dynalite's health check), then lets dynalite answer. */
function signatureFront(check: SignatureCheck, dynaliteRequest: RequestHandler): Server {
  return createServer((req, res) => {
    const handle = async (): Promise<Buffer> => {
      const body = await readBody(req);
      if (req.method === 'POST') await verifySignature(req, body, check, Date.now());
      return body;
    };
    handle().then(
      (body) => dynaliteRequest(replay(req, body), res),
      (error: unknown) => {
        const failure = error instanceof AwsError ? error : new AwsError('InternalServerError', 'An internal error occurred.', 500);
        sendJsonError(res, failure, DYNAMODB_JSON);
      },
    );
  });
}

function close(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    // Keep-alive sockets from SDK clients would otherwise hold close() open.
    server.closeIdleConnections();
  });
}

/**
 * Starts dynalite in this process on 127.0.0.1, in memory, with table create/update/delete taking
 * no time (so tests and the local run never wait for a table to become ACTIVE), behind the
 * signature-checking front. Port 0, the default, picks a free port. It accepts `credentials`
 * (the local Secrets Manager's by default: one local identity for the embedded default).
 */
export async function startLocalDynamoDB(
  options: { port?: number; credentials?: { accessKeyId: string; secretAccessKey: string }; path?: string } = {},
): Promise<LocalDynamoDB> {
  const credentials = { ...(options.credentials ?? LOCAL_CREDENTIALS) };
  // With `path`, dynalite keeps its tables in a LevelDB directory there (the sandbox resumes from it).
  const backend = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(options.path === undefined ? {} : { path: options.path }) });
  // It listens (unused) only so that its own close() runs its database shutdown, which a server
  // that never listened skips.
  await listenOnLoopback(backend, 0);
  const front = signatureFront(signatureCheck(credentials), dynaliteHandler(backend));
  let port: number;
  try {
    port = await listenOnLoopback(front, options.port ?? 0);
  } catch (error) {
    await close(backend);
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    credentials,
    stop() {
      // Idempotent: a second stop (e.g. a test's afterAll after a failed test) waits for the first.
      stopped ??= close(front).then(() => close(backend));
      return stopped;
    },
  };
}
