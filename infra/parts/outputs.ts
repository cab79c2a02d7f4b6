/**
 * The stack's outputs: the function names, the table and the secret prefix, and one ready-to-run
 * `certrotate` CLI command per operator command; the leaf bucket's name when there is one. Their logical ids are set explicitly
 * (`CommandFunctionName`, `StatusCommand` ...), not derived from the construct path, so they stay
 * the same wherever the construct sits, and `certrotate --stack NAME` finds `CommandFunctionName`
 * by that key. No exports: nothing in another stack is tied to them. A second CertificateRotation
 * in the same stack takes an `outputPrefix` (two outputs cannot share a logical id).
 */
import { CfnOutput, Stack } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { CertrotateConfig } from '../../lib/config/index.js';

export interface OutputsProps {
  config: CertrotateConfig;
  functionNames: { scan: string; advance: string; command: string };
  tableName: string;
  secretPrefix: string;
  /** The leaf bucket's name, when an authority keeps its leaves in S3 (infra/parts/leaf-bucket.ts); no output otherwise. */
  leafBucketName?: string;
  /** Put before every output's logical id; default none. */
  prefix?: string;
}

/** The CLI commands, in the order `certrotate --help` lists them, with a sample of their arguments. */
function commands(authority: string, leaf: string): Array<[id: string, description: string, args: string]> {
  const reason = (text: string) => `--reason "${text}"`;
  return [
    ['StatusCommand', 'The status of every authority (exit 3: attention needed)', 'status'],
    ['PlanCommand', 'What the next scheduled run will do, changing nothing', 'plan'],
    ['HistoryCommand', `The phase history of authority ${authority}`, `history ${authority}`],
    ['RotateCaCommand', `Forces a CA rotation of ${authority} (prints its request id; add --emergency for a compromised key)`, `rotate-ca ${authority} ${reason('planned rotation')}`],
    ['PauseCommand', `Pauses the rotation of ${authority}`, `pause ${authority} ${reason('change freeze')}`],
    ['ResumeCommand', `Resumes the rotation of ${authority}`, `resume ${authority}`],
    ['RollbackCommand', `Rolls the rotation of ${authority} back (until the old CA is retired)`, `rollback ${authority} ${reason('roll back')}`],
    ['RenewCommand', `Renews leaf ${leaf} of ${authority} now (leave out the leaf to renew every due one)`, `renew ${authority} ${leaf}`],
    ['CheckExpirationCommand', 'Every CA generation and leaf with its expiry (exit 3: past its renewal point)', 'check-expiration'],
    ['InspectCommand', `Subject, SANs, issuer generation, validity and fingerprints of ${authority}/${leaf} (never the key)`, `inspect ${authority}/${leaf}`],
  ];
}

export function stackOutputs(scope: Construct, props: OutputsProps): void {
  const prefix = props.prefix ?? '';
  const output = (id: string, value: string, description: string) => new CfnOutput(scope, id, { value, description }).overrideLogicalId(`${prefix}${id}`);
  output('ScanFunctionName', props.functionNames.scan, 'certrotate scan function');
  output('AdvanceFunctionName', props.functionNames.advance, 'certrotate advance function');
  output('CommandFunctionName', props.functionNames.command, 'certrotate command function (operators: certrotate --stack finds it here)');
  output('StateTableName', props.tableName, 'certrotate state table (import-ca --table)');
  output('SecretPrefix', props.secretPrefix, 'First segment of every certrotate secret name');
  if (props.leafBucketName !== undefined) output('LeafBucketName', props.leafBucketName, 'certrotate leaf bucket of the leafStore s3 authorities (import-ca --leaf-bucket)');
  const authority = props.config.authorities[0]?.name ?? 'cluster';
  const leaf = props.config.leaves.find((candidate) => candidate.authority === authority)?.id ?? 'LEAF';
  const stack = Stack.of(scope);
  for (const [id, description, args] of commands(authority, leaf)) {
    output(id, `npx certrotate ${args} --stack ${stack.stackName} --region ${stack.region}`, description);
  }
}
