/**
 * Where `npm start` keeps each authority's leaves: `front-proxy` (the fewest leaves) in the local S3
 * leaf bucket (`leafStore: s3`), the others in the local Secrets Manager, so every run exercises
 * both stores through the same engine.
 */
import type { CertrotateConfig } from '../config/index.js';

export const S3_LEAF_AUTHORITY = 'front-proxy';

/** The demo configuration with S3_LEAF_AUTHORITY's leaves in the leaf bucket. */
export function withS3Leaves(config: CertrotateConfig): CertrotateConfig {
  return { ...config, authorities: config.authorities.map((authority) => (authority.name === S3_LEAF_AUTHORITY ? { ...authority, leafStore: 's3' } : authority)) };
}
