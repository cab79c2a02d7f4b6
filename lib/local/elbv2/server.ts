/**
 * A local Elastic Load Balancing v2 for trust stores, speaking the Query protocol (a SigV4-signed
 * form POST, `Action=...&Version=2015-12-01`, XML answers and errors): CreateTrustStore,
 * ModifyTrustStore, DescribeTrustStores and GetTrustStoreCaCertificatesBundle, whose Location is a
 * short-lived URL on this endpoint serving the bundle the trust store has applied. Bundles are read
 * from a local S3 (lib/local/s3); a change is applied after `propagationMs`, as a load balancer
 * takes a while to pick a trust store's new content up.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { AwsError, LOCAL_CREDENTIALS } from '../kit/aws-error.js';
import { closeServer, listenOnLoopback, readBody } from '../kit/http.js';
import { verifySignature, type SignatureErrorCodes } from '../kit/sigv4.js';
import { xmlElements, type XmlValue } from '../kit/xml.js';
import type { LocalS3 } from '../s3/server.js';
import { TrustStores, type BundleSource } from './trust-stores.js';

export { MAX_CA_CERTIFICATES } from './trust-stores.js';

export interface LocalElbv2Options {
  /** Where bundles are read from (in-process). */
  s3: Pick<LocalS3, 'object'>;
  port?: number;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  now?: () => number;
  /** How long after Create/Modify the new bundle is served (default 0; settable later). */
  propagationMs?: number;
  /** Called before every authenticated operation; a returned error is answered instead. */
  faults?: (action: string, params: URLSearchParams) => AwsError | undefined;
  /** How the bundle at a Location is encoded (tests: ELBv2 may hand back other line endings, wrapping or order than it was given). */
  encodePem?: (pem: string) => string;
}

export interface LocalElbv2 {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The PEM bundle a trust store serves now (what a listener verifies clients against); undefined while creating. */
  servedBundle(trustStoreArn: string): string | undefined;
  setPropagationMs(ms: number): void;
  /** How the bundle at a Location is encoded from now on (undefined: as applied). */
  setBundleEncoding(encode: ((pem: string) => string) | undefined): void;
  calls(): Record<string, number>;
  stop(): Promise<void>;
}

const NAMESPACE = 'http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/';
const QUERY_SIGNATURE_ERRORS: SignatureErrorCodes = {
  missing: 'MissingAuthenticationToken',
  incomplete: 'IncompleteSignature',
  unknownKey: 'InvalidClientTokenId',
  mismatch: 'SignatureDoesNotMatch',
  status: 403,
};
const LOCATION_TTL_MS = 10 * 60_000;

function required(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (value === null || value === '') throw new AwsError('ValidationError', `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`);
  return value;
}

function sourceOf(params: URLSearchParams): BundleSource {
  return {
    bucket: required(params, 'CaCertificatesBundleS3Bucket'),
    key: required(params, 'CaCertificatesBundleS3Key'),
    versionId: params.get('CaCertificatesBundleS3ObjectVersion') ?? undefined,
  };
}

/** `Names.member.1`, `Names.member.2` ... */
function members(params: URLSearchParams, name: string): string[] {
  const values: string[] = [];
  for (let index = 1; params.has(`${name}.member.${index}`); index += 1) values.push(params.get(`${name}.member.${index}`) ?? '');
  return values;
}

function sendXml(res: ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { 'Content-Type': 'text/xml', 'x-amzn-RequestId': randomUUID() });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
}

function answer(action: string, result: Record<string, XmlValue>): string {
  return `<${action}Response xmlns="${NAMESPACE}"><${action}Result>${xmlElements(result)}</${action}Result>${xmlElements({ ResponseMetadata: { RequestId: randomUUID() } })}</${action}Response>`;
}

function errorXml(error: AwsError): string {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  return `<ErrorResponse xmlns="${NAMESPACE}">${xmlElements({ Error: { Type: type, Code: error.type, Message: error.message } })}<RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}

export async function startLocalElbv2(options: LocalElbv2Options): Promise<LocalElbv2> {
  const region = options.region ?? 'us-east-1';
  const credentials = options.credentials ?? { ...LOCAL_CREDENTIALS };
  const now = options.now ?? Date.now;
  let propagationMs = options.propagationMs ?? 0;
  let encodePem = options.encodePem;
  const stores = new TrustStores({ region, now, propagationMs: () => propagationMs, readObject: (bucket, key, versionId) => options.s3.object(bucket, key, versionId) });
  const locations = new Map<string, { arn: string; expiresAt: number }>();
  const counts: Record<string, number> = {};
  let endpoint = '';

  function run(action: string, params: URLSearchParams): string {
    switch (action) {
      case 'CreateTrustStore':
        return answer(action, { TrustStores: [{ ...stores.create(required(params, 'Name'), sourceOf(params)) }] });
      case 'ModifyTrustStore':
        return answer(action, { TrustStores: [{ ...stores.modify(required(params, 'TrustStoreArn'), sourceOf(params)) }] });
      case 'DescribeTrustStores':
        return answer(action, { TrustStores: stores.describe(members(params, 'TrustStoreArns'), members(params, 'Names')).map((view) => ({ ...view })) });
      case 'GetTrustStoreCaCertificatesBundle': {
        const arn = required(params, 'TrustStoreArn');
        if (stores.served(arn) === undefined) throw new AwsError('TrustStoreNotReady', 'The trust store is not ready.');
        const token = randomBytes(16).toString('hex');
        locations.set(token, { arn, expiresAt: now() + LOCATION_TTL_MS });
        return answer(action, { Location: `${endpoint}/trust-store-bundles/${token}` });
      }
      default:
        throw new AwsError('InvalidAction', `Could not find operation ${action} for version 2015-12-01`);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, { maxBytes: 1_048_576, tooLarge: () => new AwsError('ValidationError', 'Request body too large.', 413) });
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && url.pathname.startsWith('/trust-store-bundles/')) {
      const location = locations.get(url.pathname.slice('/trust-store-bundles/'.length));
      const served = location === undefined || now() > location.expiresAt ? undefined : stores.served(location.arn);
      res.writeHead(served === undefined ? 403 : 200, { 'Content-Type': 'application/x-pem-file' });
      res.end(served === undefined ? 'Request has expired' : (encodePem?.(served.content) ?? served.content));
      return;
    }
    if (req.method !== 'POST' || url.pathname !== '/') throw new AwsError('InvalidAction', 'This local ELBv2 answers POST / only.', 404);
    await verifySignature(req, body, { service: 'elasticloadbalancing', region, identityFor: (id) => (id === credentials.accessKeyId ? credentials : undefined), codes: QUERY_SIGNATURE_ERRORS }, Date.now());
    const params = new URLSearchParams(body.toString('utf8'));
    const action = params.get('Action') ?? '';
    counts[action] = (counts[action] ?? 0) + 1;
    const fault = options.faults?.(action, params);
    if (fault !== undefined) throw fault;
    sendXml(res, 200, run(action, params));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const failure = error instanceof AwsError ? error : new AwsError('InternalFailure', 'An internal error occurred.', 500);
      sendXml(res, failure.status, errorXml(failure));
    });
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    region,
    credentials,
    servedBundle: (arn) => stores.served(arn)?.content,
    setPropagationMs: (ms) => {
      propagationMs = ms;
    },
    setBundleEncoding: (encode) => {
      encodePem = encode;
    },
    calls: () => ({ ...counts }),
    stop: () => closeServer(server),
  };
}
