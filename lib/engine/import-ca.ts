/**
 * Placeholder: adopting an existing CA is written on the importca branch; this file only fixes
 * the signature the CLI calls, and the merge takes that branch's file.
 */
import type { CertrotateConfig } from '../config/index.js';
import { CertrotateError } from '../errors.js';
import type { EngineDeps } from './deps.js';

export interface ImportCaRequest {
  authority: string;
  certificatePem: string;
  privateKeyPem: string;
  chainPem?: string;
}

export interface ImportCaResult {
  authority: string;
  generation: number;
  fingerprintSha256: string;
  notAfter: number;
  adoptedLeaves: string[];
}

// eslint-disable-next-line @typescript-eslint/require-await
export async function importCa(_deps: EngineDeps, _config: CertrotateConfig, _request: ImportCaRequest, _now: number): Promise<ImportCaResult> {
  throw new CertrotateError('import-ca is not available yet');
}
