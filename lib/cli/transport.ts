/**
 * Where the CLI talks: the command function, named (`--function`), found in a stack's outputs
 * (`--stack`), or the sandbox's local Lambda endpoint (`--endpoint`, or CERTROTATE_ENDPOINT).
 * One Lambda Invoke per command (the caller needs only lambda:InvokeFunction); every failure
 * becomes one line for the operator.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { StackError, stackOutputs } from '../aws/cloudformation-outputs.js';
import { LOCAL_CREDENTIALS } from '../local/kit/aws-error.js';
import { SANDBOX_FUNCTIONS } from '../local/sandbox/names.js';
import { CliError, UsageError } from './errors.js';

export interface TargetFlags {
  stack?: string | undefined;
  function?: string | undefined;
  endpoint?: string | undefined;
  region?: string | undefined;
}

/** The sandbox's region (its local Secrets Manager's) and the local identity every local endpoint accepts. */
const SANDBOX_REGION = 'us-east-1';

export interface CommandTarget {
  describe: string;
  /** The sandbox endpoint, when talking to one. */
  endpoint?: string;
  region: string | undefined;
  invoke(payload: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): void;
}

function lambdaFailure(error: unknown, where: string): CliError {
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  if (name === 'ResourceNotFoundException') return new CliError(`${where}: no such function (${message})`);
  if (name === 'CredentialsProviderError' || /credential/i.test(message)) return new CliError(`${where}: no AWS credentials found (${message})`);
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return new CliError(`${where}: nothing answers there (is \`certrotate sandbox\` running?)`);
  if (name === 'AccessDeniedException' || name === 'AccessDenied') return new CliError(`${where}: access denied (${message}); the CLI needs lambda:InvokeFunction on the command function`);
  return new CliError(`${where}: ${name === '' ? '' : `${name}: `}${message}`);
}

function parseAnswer(bytes: Uint8Array | undefined, functionError: string | undefined, where: string): Record<string, unknown> {
  let answer: unknown;
  try {
    answer = JSON.parse(Buffer.from(bytes ?? new Uint8Array()).toString('utf8'));
  } catch {
    throw new CliError(`${where} answered something that is not JSON`);
  }
  const record = typeof answer === 'object' && answer !== null && !Array.isArray(answer) ? (answer as Record<string, unknown>) : {};
  if (functionError !== undefined) throw new CliError(`${where} failed: ${typeof record.errorMessage === 'string' ? record.errorMessage : functionError}`);
  if (record.ok === false) {
    const message = (record.error as { message?: unknown } | undefined)?.message;
    throw new CliError(typeof message === 'string' ? message : 'the command was refused');
  }
  return record;
}

function target(client: LambdaClient, functionName: Promise<string>, describe: string, extra: { endpoint?: string; region: string | undefined }): CommandTarget {
  return {
    describe,
    ...extra,
    async invoke(payload) {
      const name = await functionName;
      let response;
      try {
        response = await client.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }));
      } catch (error) {
        throw lambdaFailure(error, describe);
      }
      return parseAnswer(response.Payload, response.FunctionError, describe);
    },
    close: () => client.destroy(),
  };
}

async function commandFunctionOf(client: LambdaClient, stack: string, region: string | undefined, endpoint: string | undefined): Promise<string> {
  let outputs: Record<string, string>;
  try {
    const credentials = await client.config.credentials();
    outputs = await stackOutputs(stack, { region: region ?? (await client.config.region()), credentials, ...(endpoint === undefined ? {} : { endpoint }) });
  } catch (error) {
    if (error instanceof StackError) throw new CliError(error.message);
    throw lambdaFailure(error, `stack ${stack}`);
  }
  // The stable key first (infra/parts/outputs.ts); then stacks deployed before it (`RotationCommandFunctionName0250D57F`) or with an outputPrefix.
  const stable = outputs['CommandFunctionName'];
  if (stable !== undefined) return stable;
  const found = Object.entries(outputs).filter(([key]) => /CommandFunctionName/.test(key));
  if (found.length === 1 && found[0] !== undefined) return found[0][1];
  if (found.length === 0) throw new CliError(`stack ${stack} has no CommandFunctionName output: is it a certrotate stack? (or pass --function NAME)`);
  throw new CliError(`stack ${stack} has ${found.length} certrotate command functions (${found.map(([, v]) => v).join(', ')}): pass --function NAME`);
}

/**
 * Resolves the flags into one target. From `env`: CERTROTATE_ENDPOINT (a sandbox), and the SDK's
 * AWS_ENDPOINT_URL_CLOUDFORMATION / AWS_ENDPOINT_URL for DescribeStacks (the Lambda client reads
 * AWS_ENDPOINT_URL_LAMBDA itself).
 */
export function resolveTarget(flags: TargetFlags, env: Readonly<Record<string, string | undefined>>): CommandTarget {
  const envEndpoint = env.CERTROTATE_ENDPOINT;
  const given = [flags.stack, flags.function, flags.endpoint].filter((value) => value !== undefined).length;
  if (given > 1) throw new UsageError('give one of --stack, --function and --endpoint');
  const endpoint = flags.endpoint ?? (given === 0 ? envEndpoint : undefined);
  if (endpoint !== undefined) {
    if (!/^https?:\/\/[^\s/]+/.test(endpoint)) throw new UsageError(`--endpoint must be an http(s) URL, got "${endpoint}"`);
    const client = new LambdaClient({ endpoint, region: SANDBOX_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
    return target(client, Promise.resolve(SANDBOX_FUNCTIONS.command), `sandbox ${endpoint}`, { endpoint, region: SANDBOX_REGION });
  }
  const client = new LambdaClient({ ...(flags.region === undefined ? {} : { region: flags.region }), maxAttempts: 3 });
  if (flags.function !== undefined) return target(client, Promise.resolve(flags.function), `function ${flags.function}`, { region: flags.region });
  if (flags.stack !== undefined) {
    const name = commandFunctionOf(client, flags.stack, flags.region, env.AWS_ENDPOINT_URL_CLOUDFORMATION ?? env.AWS_ENDPOINT_URL);
    name.catch(() => undefined);
    return target(client, name, `stack ${flags.stack}`, { region: flags.region });
  }
  throw new UsageError('say where certrotate runs: --stack NAME, --function NAME, or --endpoint URL (or set CERTROTATE_ENDPOINT to a sandbox)');
}
