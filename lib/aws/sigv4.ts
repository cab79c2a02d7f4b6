import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A SigV4 signer (SHA-256 from node:crypto): the one way certrotate signs, and its local endpoints check, AWS requests. */
export function sigv4Signer(service: string, region: string, credentials: SigningCredentials): SignatureV4 {
  return new SignatureV4({ service, region, credentials, sha256: Hash.bind(null, 'sha256'), applyChecksum: false });
}
