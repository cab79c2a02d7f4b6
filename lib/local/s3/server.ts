/**
 * A local S3 speaking the REST-XML wire protocol, path-style (`http://127.0.0.1:PORT/bucket/key`,
 * the SDK's `forcePathStyle: true`), SigV4-checked: CreateBucket, PutBucketVersioning,
 * GetBucketVersioning, PutObject (answering `x-amz-version-id` on a versioned bucket; conditional
 * with `If-None-Match: *` or `If-Match: <etag>`), GetObject and HeadObject (`?versionId=`), and
 * ListObjectsV2 (`prefix`, `max-keys`, `continuation-token`, `start-after`). Any local service that reads what was written (the local ELBv2
 * and API Gateway read trust store bundles) reads it in-process through `object()`.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { AwsError, LOCAL_CREDENTIALS } from '../kit/aws-error.js';
import { closeServer, headerValue, listenOnLoopback, readBody } from '../kit/http.js';
import { verifySignature, type SignatureErrorCodes } from '../kit/sigv4.js';
import { xmlElements, xmlText } from '../kit/xml.js';
import { S3Backend, type S3ObjectVersion } from './backend.js';
import type { S3Snapshot } from './snapshot.js';

export type { S3ObjectVersion } from './backend.js';

export interface LocalS3Options {
  port?: number;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  now?: () => number;
  /** Called before every authenticated operation; a returned error is answered instead. */
  faults?: (operation: string, bucket: string, key: string | undefined) => AwsError | undefined;
  /** Buckets and object versions to start with: a `snapshot()` taken earlier (the sandbox resumes from disk). */
  restore?: S3Snapshot;
}

export interface LocalS3 {
  /** `http://127.0.0.1:PORT`: an S3Client's `endpoint`, with `forcePathStyle: true`. */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** A stored version as other local services read it; throws the AwsError S3 would answer. */
  object(bucket: string, key: string, versionId?: string): S3ObjectVersion;
  /** Requests per operation, faulted ones included. */
  calls(): Record<string, number>;
  /** Every bucket and object version (bodies included: leaf objects hold private keys), for `restore`. */
  snapshot(): S3Snapshot;
  stop(): Promise<void>;
}

const S3_SIGNATURE_ERRORS: SignatureErrorCodes = {
  missing: 'AccessDenied',
  incomplete: 'AuthorizationHeaderMalformed',
  unknownKey: 'InvalidAccessKeyId',
  mismatch: 'SignatureDoesNotMatch',
  status: 403,
};
const MAX_BODY_BYTES = 16 * 1_048_576;

interface Route {
  operation: string;
  bucket: string;
  key: string | undefined;
  query: URLSearchParams;
}

function routeOf(req: IncomingMessage): Route {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const [, bucket = '', ...rest] = url.pathname.split('/');
  const key = rest.length === 0 || (rest.length === 1 && rest[0] === '') ? undefined : decodeURIComponent(rest.join('/'));
  const query = url.searchParams;
  if (bucket === '') throw new AwsError('NotImplemented', 'This local S3 answers path-style bucket and object requests only.', 501);
  const method = req.method ?? 'GET';
  const operation =
    key === undefined
      ? method === 'PUT' ? (query.has('versioning') ? 'PutBucketVersioning' : 'CreateBucket') : method === 'GET' ? bucketRead(query) : undefined
      : method === 'PUT' ? 'PutObject' : method === 'GET' ? 'GetObject' : method === 'HEAD' ? 'HeadObject' : undefined;
  if (operation === undefined) throw new AwsError('NotImplemented', `${method} ${url.pathname} is not implemented by this local S3.`, 501);
  return { operation, bucket: decodeURIComponent(bucket), key, query };
}

function bucketRead(query: URLSearchParams): string | undefined {
  if (query.has('versioning')) return 'GetBucketVersioning';
  return query.get('list-type') === '2' ? 'ListObjectsV2' : undefined;
}

const MAX_LIST_KEYS = 1000;

/** ListObjectsV2's answer; the continuation token is the last key of the page, base64url. */
function listObjects(backend: S3Backend, bucket: string, query: URLSearchParams): Answer {
  const prefix = query.get('prefix') ?? '';
  const rawMax = query.get('max-keys');
  const maxKeys = rawMax === null ? MAX_LIST_KEYS : Number(rawMax);
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 0) throw new AwsError('InvalidArgument', 'Provided max-keys not an integer or within integer range', 400);
  const token = query.get('continuation-token');
  const after = token === null ? (query.get('start-after') ?? undefined) : Buffer.from(token, 'base64url').toString('utf8');
  const { versions, truncated } = backend.list(bucket, prefix, after, Math.min(maxKeys, MAX_LIST_KEYS));
  const last = versions.at(-1);
  const contents = versions
    .map((v) => `<Contents>${xmlElements({ Key: v.key, LastModified: new Date(v.lastModified).toISOString(), ETag: v.etag, Size: v.body.length, StorageClass: 'STANDARD' })}</Contents>`)
    .join('');
  const fields = xmlElements({
    Name: bucket,
    Prefix: prefix,
    KeyCount: versions.length,
    MaxKeys: maxKeys,
    IsTruncated: truncated,
    ContinuationToken: token ?? undefined,
    NextContinuationToken: truncated && last !== undefined ? Buffer.from(last.key).toString('base64url') : undefined,
  });
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${fields}${contents}</ListBucketResult>`;
  return { status: 200, headers: { 'Content-Type': 'application/xml' }, body: xml };
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body?: Buffer | string;
}

function objectHeaders(version: S3ObjectVersion, versioned: boolean): Record<string, string> {
  return {
    ETag: version.etag,
    'Content-Type': version.contentType,
    'Last-Modified': new Date(version.lastModified).toUTCString(),
    ...(versioned ? { 'x-amz-version-id': version.versionId } : {}),
  };
}

function run(backend: S3Backend, region: string, route: Route, req: IncomingMessage, body: Buffer): Answer {
  const { bucket, key, query } = route;
  switch (route.operation) {
    case 'CreateBucket':
      backend.createBucket(bucket, xmlText(body.toString('utf8'), 'LocationConstraint') ?? region);
      return { status: 200, headers: { Location: `/${bucket}` } };
    case 'PutBucketVersioning':
      backend.setVersioning(bucket, xmlText(body.toString('utf8'), 'Status'));
      return { status: 200, headers: {} };
    case 'GetBucketVersioning': {
      const status = backend.versioning(bucket);
      const xml = `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${xmlElements({ Status: status })}</VersioningConfiguration>`;
      return { status: 200, headers: { 'Content-Type': 'application/xml' }, body: xml };
    }
    case 'ListObjectsV2':
      return listObjects(backend, bucket, query);
    case 'PutObject': {
      const ifMatch = headerValue(req, 'if-match');
      const ifNoneMatch = headerValue(req, 'if-none-match');
      const condition = { ...(ifMatch === undefined ? {} : { ifMatch }), ...(ifNoneMatch === undefined ? {} : { ifNoneMatch }) };
      const version = backend.put(bucket, key ?? '', body, headerValue(req, 'content-type') ?? 'binary/octet-stream', condition);
      const headers = objectHeaders(version, backend.versioning(bucket) !== undefined);
      return { status: 200, headers: { ETag: version.etag, ...(headers['x-amz-version-id'] === undefined ? {} : { 'x-amz-version-id': version.versionId }) } };
    }
    default: {
      const version = backend.get(bucket, key ?? '', query.get('versionId') ?? undefined);
      const headers = { ...objectHeaders(version, backend.versioning(bucket) !== undefined), 'Content-Length': String(version.body.length) };
      return route.operation === 'HeadObject' ? { status: 200, headers } : { status: 200, headers, body: version.body };
    }
  }
}

function send(res: ServerResponse, answer: Answer, head: boolean): void {
  const requestId = randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
  res.writeHead(answer.status, { 'x-amz-request-id': requestId, 'x-amz-id-2': requestId, ...answer.headers });
  res.end(head ? undefined : answer.body);
}

function errorAnswer(error: AwsError): Answer {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${xmlElements({ Code: error.type, Message: error.message, RequestId: randomUUID() })}</Error>`;
  return { status: error.status, headers: { 'Content-Type': 'application/xml' }, body: xml };
}

export async function startLocalS3(options: LocalS3Options = {}): Promise<LocalS3> {
  const region = options.region ?? 'us-east-1';
  const credentials = options.credentials ?? { ...LOCAL_CREDENTIALS };
  const now = options.now ?? Date.now;
  const backend = new S3Backend(now, options.restore);
  const counts: Record<string, number> = {};

  async function handle(req: IncomingMessage): Promise<Answer> {
    const tooLarge = (): AwsError => new AwsError('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed object size.', 400);
    const body = await readBody(req, { maxBytes: MAX_BODY_BYTES, tooLarge });
    const route = routeOf(req);
    await verifySignature(req, body, { service: 's3', region, identityFor: (id) => (id === credentials.accessKeyId ? credentials : undefined), codes: S3_SIGNATURE_ERRORS, unsignedPayload: true }, Date.now());
    counts[route.operation] = (counts[route.operation] ?? 0) + 1;
    const fault = options.faults?.(route.operation, route.bucket, route.key);
    if (fault !== undefined) throw fault;
    return run(backend, region, route, req, body);
  }

  const server = createServer((req, res) => {
    const head = req.method === 'HEAD';
    handle(req).then(
      (answer) => send(res, answer, head),
      (error: unknown) => send(res, errorAnswer(error instanceof AwsError ? error : new AwsError('InternalError', 'We encountered an internal error. Please try again.', 500)), head),
    );
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    object: (bucket, key, versionId) => backend.get(bucket, key, versionId),
    calls: () => ({ ...counts }),
    snapshot: () => backend.snapshot(),
    stop: () => closeServer(server),
  };
}
