/** lib/pki: all of certrotate's X.509 work. Time and randomness are inputs. */
export * from './algorithms.js';
export * from './bundle.js';
export * from './certificate.js';
export * from './errors.js';
export * from './inspect.js';
export * from './issue.js';
export * from './keys.js';
export * from './names.js';
export * from './pem.js';
export * from './verify.js';
export * from './directory.js';
export * from './chain-cache.js';
export * from './lru.js';
export * from './import.js';
export * from './name-constraints.js';
export * from './name-constraints-extension.js';
export * from './signer.js';
