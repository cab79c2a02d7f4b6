/**
 * The leaf bucket, created when an authority has `leafStore: s3`: versioned, public access
 * blocked, TLS only, SSE-KMS with certrotate's key and an S3 Bucket Key (S3 asks KMS for a bucket
 * data key now and then instead of once per object: KMS requests drop by orders of magnitude),
 * retained when the stack goes, superseded versions kept 30 days (the newest of them longer, as
 * Secrets Manager keeps AWSPREVIOUS). Every function role gets exactly what the S3 leaf store does:
 * s3:GetObject on every authority's leaf keys (a leaf not yet moved is read from either store),
 * s3:PutObject on the s3 authorities' leaf keys, s3:ListBucket (listing, and a 404 rather than a
 * 403 for a leaf not written yet); the key is granted to the roles already.
 */
import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { leafStoreOf, type CertrotateConfig } from '../../lib/config/index.js';
import { ENV } from '../../lib/handlers/env.js';
import type { FunctionRole } from './functions.js';
import type * as lambda from 'aws-cdk-lib/aws-lambda';

/** The key pattern of an authority's leaf objects (lib/aws/s3-leaf-store.ts leafObjectKey). */
function leafKeys(secretPrefix: string, authority: string): string {
  return `${secretPrefix}/${authority}/leaf/*`;
}

export function leafBucket(
  scope: Construct,
  options: { config: CertrotateConfig; key: kms.IKey; secretPrefix: string; roles: readonly FunctionRole[]; functions: readonly lambda.Function[] },
): s3.Bucket | undefined {
  const onS3 = options.config.authorities.filter((authority) => leafStoreOf(authority) === 's3').map((authority) => authority.name);
  if (onS3.length === 0) return undefined;
  const bucket = new s3.Bucket(scope, 'Leaves', {
    versioned: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    enforceSSL: true,
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: options.key,
    bucketKeyEnabled: true,
    removalPolicy: RemovalPolicy.RETAIN,
    lifecycleRules: [{ id: 'SupersededLeafVersions', noncurrentVersionExpiration: Duration.days(30), noncurrentVersionsToRetain: 1 }],
  });
  Validations.of(bucket).acknowledge({
    id: 'AwsSolutions::AwsSolutions-S1',
    reason: 'Leaf objects are read by the certrotate functions and the workloads granted one object each; CloudTrail data events (the account\'s trail) are the access log, without a second bucket per deployment.',
  });
  const all = options.config.authorities.map((authority) => bucket.arnForObjects(leafKeys(options.secretPrefix, authority.name)));
  const writable = onS3.map((authority) => bucket.arnForObjects(leafKeys(options.secretPrefix, authority)));
  const stack = Stack.of(scope);
  for (const { role } of options.roles) {
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadLeafObjects', actions: ['s3:GetObject'], resources: all }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteLeafObjects', actions: ['s3:PutObject'], resources: writable }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ListLeafObjects', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    const bucketForNag = Token.isUnresolved(bucket.bucketArn) ? `<${stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>` : bucket.bucketArn;
    for (const authority of options.config.authorities) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${bucketForNag}/${leafKeys(options.secretPrefix, authority.name)}]`,
        reason: `The leaf objects of authority "${authority.name}", one per configured leaf: the wildcard is the leaf id.`,
      });
    }
  }
  for (const fn of options.functions) fn.addEnvironment(ENV.leafBucket, bucket.bucketName);
  return bucket;
}
