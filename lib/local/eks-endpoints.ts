/**
 * Local stand-ins for the two AWS endpoints an EKS client talks to before it reaches the cluster,
 * and the cluster's side of the token check:
 *
 * - EKS `DescribeCluster` (lib/local/eks/describe-cluster.ts), so the real `EKSClient` learns each
 *   local cluster's endpoint and CA data;
 * - STS (lib/local/sts/): `GetCallerIdentity` through a presigned URL, the way an EKS cluster's
 *   authenticator replays a bearer token, and `AssumeRole`;
 * - `eksTokenVerifier` (lib/local/eks/token-verifier.ts): what aws-iam-authenticator does in the
 *   cluster, the local Kubernetes server's token verifier.
 */
export { startLocalEks, type LocalClusterEntry, type LocalEks, type LocalEksOptions } from './eks/describe-cluster.js';
export { canonicalPrincipalArn, eksTokenVerifier, type EksTokenVerifierOptions } from './eks/token-verifier.js';
export {
  startLocalSts,
  type LocalSts,
  type LocalStsIdentity,
  type LocalStsOptions,
  type LocalStsRole,
  type LocalStsSession,
} from './sts/server.js';
