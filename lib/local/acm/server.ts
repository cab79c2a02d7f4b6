/**
 * A local AWS Certificate Manager speaking JSON 1.1 (`X-Amz-Target: CertificateManager.<Op>`,
 * SigV4-checked): ImportCertificate, DescribeCertificate, GetCertificate, ListCertificates,
 * ListTagsForCertificate and DeleteCertificate, for the ACM certificate a load balancer listener or
 * API Gateway domain serves.
 */
import { AwsError, LOCAL_CREDENTIALS } from '../kit/aws-error.js';
import { closeServer, listenOnLoopback } from '../kit/http.js';
import { jsonServiceServer } from '../kit/json-protocol.js';
import { JSON_SIGNATURE_ERRORS } from '../kit/sigv4.js';
import { Certificates } from './certificates.js';
import type { Json } from '../kit/json-protocol.js';

export interface LocalAcmOptions {
  port?: number;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  now?: () => number;
  faults?: (operation: string, input: unknown) => AwsError | undefined;
  /** How GetCertificate encodes the PEM it answers (tests: ACM may wrap lines differently from what was imported). */
  encodePem?: (pem: string) => string;
}

export interface LocalAcm {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The certificate (PEM), chain and key an ARN serves now, as a listener presents it; undefined when unknown. */
  served(certificateArn: string): { certificate: string; chain: string | undefined; privateKey: string } | undefined;
  /** The ARNs of every certificate held, in import order. */
  arns(): string[];
  /** Setup only: a certificate already imported at `arn` (the ARN an operator configures). */
  importAs(arn: string, certificatePem: string, privateKeyPem: string): void;
  calls(): Record<string, number>;
  stop(): Promise<void>;
}

export async function startLocalAcm(options: LocalAcmOptions = {}): Promise<LocalAcm> {
  const region = options.region ?? 'us-east-1';
  const credentials = options.credentials ?? { ...LOCAL_CREDENTIALS };
  const now = options.now ?? Date.now;
  const certificates = new Certificates(region, now);
  const counts: Record<string, number> = {};
  const server = jsonServiceServer({
    protocol: { contentType: 'application/x-amz-json-1.1' },
    targetPrefix: 'CertificateManager.',
    maxBodyBytes: 1_048_576,
    signature: { service: 'acm', region, identityFor: (id) => (id === credentials.accessKeyId ? credentials : undefined), codes: JSON_SIGNATURE_ERRORS },
    // Signatures are checked against the wall clock (the SDK signs with it); `now` drives the data.
    now: Date.now,
    internalError: 'InternalFailure',
    run: (operation, input) => {
      counts[operation] = (counts[operation] ?? 0) + 1;
      const fault = options.faults?.(operation, input);
      if (fault !== undefined) throw fault;
      switch (operation) {
        case 'ImportCertificate':
          return certificates.import(input);
        case 'DescribeCertificate':
          return certificates.describe(input);
        case 'GetCertificate': {
          const got = certificates.get(input);
          return options.encodePem === undefined ? got : { ...got, Certificate: options.encodePem(String(got.Certificate)) };
        }
        case 'ListCertificates':
          return certificates.list(input);
        case 'ListTagsForCertificate':
          return certificates.listTags(input);
        case 'DeleteCertificate':
          return certificates.delete(input);
        default:
          throw new AwsError('UnknownOperationException', `Unknown operation ${operation}.`);
      }
    },
  });
  const port = await listenOnLoopback(server, options.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    credentials,
    served(arn) {
      try {
        const held = certificates.get({ CertificateArn: arn });
        return { certificate: String(held.Certificate), chain: typeof held.CertificateChain === 'string' ? held.CertificateChain : undefined, privateKey: certificates.privateKey(arn) };
      } catch {
        return undefined;
      }
    },
    arns: () => ((certificates.list({ Includes: { keyTypes: ['RSA_1024', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'EC_prime256v1', 'EC_secp384r1', 'EC_secp521r1'] }, MaxItems: 100 }).CertificateSummaryList as Json[]) ?? []).map((summary) => String(summary.CertificateArn)),
    importAs: (arn, certificatePem, privateKeyPem) => certificates.importAs(arn, certificatePem, privateKeyPem),
    calls: () => ({ ...counts }),
    stop: () => closeServer(server),
  };
}
