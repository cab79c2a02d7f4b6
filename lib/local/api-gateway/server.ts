/**
 * A local API Gateway (REST-JSON, SigV4-checked) for custom domain names with mutual TLS:
 * CreateDomainName (POST /domainnames), GetDomainName (GET /domainnames/{name}) and
 * UpdateDomainName (PATCH /domainnames/{name} with patch operations on
 * /mutualTlsAuthentication/truststoreUri and /truststoreVersion). Truststores are read from a
 * local S3 in-process and applied after `propagationMs`.
 */
import type { IncomingMessage } from 'node:http';
import { AwsError, LOCAL_CREDENTIALS } from '../kit/aws-error.js';
import { closeServer, listenOnLoopback, readBody } from '../kit/http.js';
import { isRecord, parseJsonObject, restJsonServer } from '../kit/json-protocol.js';
import { JSON_SIGNATURE_ERRORS, verifySignature } from '../kit/sigv4.js';
import type { LocalS3 } from '../s3/server.js';
import { Domains, type Truststore } from './domains.js';

export interface LocalApiGatewayOptions {
  s3: Pick<LocalS3, 'object'>;
  port?: number;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  now?: () => number;
  propagationMs?: number;
  faults?: (operation: string, domainName: string | undefined) => AwsError | undefined;
}

export interface LocalApiGateway {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The truststore a domain verifies clients against now; undefined before one is applied. */
  servedTruststore(domainName: string): Truststore | undefined;
  setPropagationMs(ms: number): void;
  calls(): Record<string, number>;
  stop(): Promise<void>;
}

function route(req: IncomingMessage): { operation: string; domainName: string | undefined } {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const match = /^\/domainnames(?:\/([^/]+))?$/.exec(url.pathname);
  const domainName = match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
  const operation =
    match === null ? undefined
      : domainName === undefined ? (req.method === 'POST' ? 'CreateDomainName' : undefined)
        : req.method === 'GET' ? 'GetDomainName' : req.method === 'PATCH' ? 'UpdateDomainName' : undefined;
  if (operation === undefined) throw new AwsError('NotFoundException', `No method found matching route ${url.pathname} for http method ${req.method ?? ''}.`, 404);
  return { operation, domainName };
}

export async function startLocalApiGateway(options: LocalApiGatewayOptions): Promise<LocalApiGateway> {
  const region = options.region ?? 'us-east-1';
  const credentials = options.credentials ?? { ...LOCAL_CREDENTIALS };
  const now = options.now ?? Date.now;
  let propagationMs = options.propagationMs ?? 0;
  const domains = new Domains({ now, propagationMs: () => propagationMs, readObject: (bucket, key, versionId) => options.s3.object(bucket, key, versionId) });
  const counts: Record<string, number> = {};

  async function handle(req: IncomingMessage): Promise<{ status: number; body: Record<string, unknown> }> {
    const body = await readBody(req, { maxBytes: 1_048_576, tooLarge: () => new AwsError('BadRequestException', 'Request body too large.', 413) });
    await verifySignature(req, body, { service: 'apigateway', region, identityFor: (id) => (id === credentials.accessKeyId ? credentials : undefined), codes: JSON_SIGNATURE_ERRORS }, Date.now());
    const { operation, domainName } = route(req);
    counts[operation] = (counts[operation] ?? 0) + 1;
    const fault = options.faults?.(operation, domainName);
    if (fault !== undefined) throw fault;
    const input = parseJsonObject(body);
    if (operation === 'GetDomainName') return { status: 200, body: domains.get(domainName ?? '') };
    if (operation === 'UpdateDomainName') {
      const operations = Array.isArray(input.patchOperations) ? (input.patchOperations as unknown[]) : [];
      return { status: 200, body: domains.update(domainName ?? '', operations) };
    }
    if (typeof input.domainName !== 'string') throw new AwsError('BadRequestException', 'domainName is required.');
    const certificate = typeof input.regionalCertificateArn === 'string' ? input.regionalCertificateArn : undefined;
    const mtls = isRecord(input.mutualTlsAuthentication) ? input.mutualTlsAuthentication : undefined;
    return { status: 201, body: domains.create(input.domainName, certificate, mtls) };
  }

  const server = restJsonServer(handle, 'InternalServerErrorException');
  const port = await listenOnLoopback(server, options.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    servedTruststore: (domainName) => domains.served(domainName),
    setPropagationMs: (ms) => {
      propagationMs = ms;
    },
    calls: () => ({ ...counts }),
    stop: () => closeServer(server),
  };
}
