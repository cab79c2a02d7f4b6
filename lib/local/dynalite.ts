/**
 * The local DynamoDB: dynalite on a loopback port of its own, behind a small front that checks
 * every request's SigV4 signature (dynalite checks only that one is there) and forwards the ones
 * that verify. A forged or wrongly keyed request gets DynamoDB's own answer (400,
 * `com.amazon.coral.service#InvalidSignatureException` ...) and never reaches the table.
 */
import { Agent, createServer, request } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
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

/** Passes a verified request on to dynalite and its answer back, as they are. */
function forward(req: IncomingMessage, body: Buffer, res: ServerResponse, port: number, agent: Agent): void {
  const upstream = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => {
    if (!res.headersSent) sendJsonError(res, new AwsError('InternalServerError', 'The local DynamoDB did not answer.', 500), DYNAMODB_JSON);
    else res.destroy();
  });
  upstream.end(body);
}

/** The front: reads the body, verifies the signature of every POST (GET is dynalite's health check), forwards. */
function signatureFront(check: SignatureCheck, port: number, agent: Agent): Server {
  return createServer((req, res) => {
    const handle = async (): Promise<Buffer> => {
      const body = await readBody(req);
      if (req.method === 'POST') await verifySignature(req, body, check, Date.now());
      return body;
    };
    handle().then(
      (body) => forward(req, body, res, port, agent),
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
  const backendPort = await listenOnLoopback(backend, 0);
  const agent = new Agent({ keepAlive: true });
  const front = signatureFront(signatureCheck(credentials), backendPort, agent);
  let port: number;
  try {
    port = await listenOnLoopback(front, options.port ?? 0);
  } catch (error) {
    agent.destroy();
    await close(backend);
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    credentials,
    stop() {
      // Idempotent: a second stop (e.g. a test's afterAll after a failed test) waits for the first.
      stopped ??= close(front).then(async () => {
        agent.destroy();
        await close(backend);
      });
      return stopped;
    },
  };
}
