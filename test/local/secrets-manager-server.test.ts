import { createHash } from 'node:crypto';
import { request } from 'node:http';
import {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidNextTokenException,
  InvalidParameterException,
  InvalidRequestException,
  ListSecretsCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
  TagResourceCommand,
  UpdateSecretVersionStageCommand,
  paginateListSecrets,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLocalSecretsManager } from '../../lib/local/secrets-manager-server.js';
import type { InjectedFault, LocalSecretsManager } from '../../lib/local/secrets-manager-server.js';

const TOKEN_A = 'a'.repeat(32);
const TOKEN_B = 'b'.repeat(40);
const TOKEN_C = 'c'.repeat(64);

let clockMs = Date.now();
let nextFault: ((operation: string) => InjectedFault | undefined) | undefined;
let server: LocalSecretsManager;
let client: SecretsManagerClient;

function clientFor(
  local: LocalSecretsManager,
  overrides: { accessKeyId?: string; secretAccessKey?: string; region?: string } = {},
): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint: local.endpoint,
    region: overrides.region ?? local.region,
    credentials: {
      accessKeyId: overrides.accessKeyId ?? local.credentials.accessKeyId,
      secretAccessKey: overrides.secretAccessKey ?? local.credentials.secretAccessKey,
    },
    maxAttempts: 1,
  });
}

/** Runs `fn` and returns what it threw, failing the test if it did not throw. */
async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

let counter = 0;
const uniqueName = (base: string): string => `test/${base}-${++counter}`;

beforeAll(async () => {
  server = await startLocalSecretsManager({
    region: 'eu-west-1',
    // Follow the wall clock unless a test moves it forward.
    now: () => Math.max(clockMs, Date.now()),
    faults: (operation) => nextFault?.(operation),
  });
  client = clientFor(server);
});

afterAll(async () => {
  client.destroy();
  await server.stop();
});

afterEach(() => {
  nextFault = undefined;
});

describe('local Secrets Manager: create, put and get', () => {
  it('creates a secret with an ARN in the real format and reads it back by name and ARN', async () => {
    const name = uniqueName('create');
    const created = await client.send(
      new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: TOKEN_A, Description: 'd', KmsKeyId: 'alias/k', Tags: [{ Key: 'team', Value: 'pki' }] }),
    );
    expect(created.ARN).toMatch(new RegExp(`^arn:aws:secretsmanager:eu-west-1:000000000000:secret:${name}-[A-Za-z0-9]{6}$`));
    expect(created.VersionId).toBe(TOKEN_A);

    const byName = await client.send(new GetSecretValueCommand({ SecretId: name }));
    expect(byName.SecretString).toBe('v1');
    expect(byName.VersionStages).toEqual(['AWSCURRENT']);
    expect(byName.CreatedDate).toBeInstanceOf(Date);
    const byArn = await client.send(new GetSecretValueCommand({ SecretId: created.ARN }));
    expect(byArn.Name).toBe(name);
    const byPartialArn = await client.send(new GetSecretValueCommand({ SecretId: created.ARN?.slice(0, -7) }));
    expect(byPartialArn.Name).toBe(name);
  });

  it('moves AWSCURRENT and AWSPREVIOUS on each new version', async () => {
    const name = uniqueName('stages');
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: TOKEN_A }));
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'v2', ClientRequestToken: TOKEN_B }));
    const put3 = await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'v3', ClientRequestToken: TOKEN_C }));
    expect(put3.VersionStages).toEqual(['AWSCURRENT']);

    const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
    // The first version lost both labels: it is deprecated and no longer listed.
    expect(described.VersionIdsToStages).toEqual({ [TOKEN_B]: ['AWSPREVIOUS'], [TOKEN_C]: ['AWSCURRENT'] });
    const previous = await client.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
    expect(previous.SecretString).toBe('v2');
    const old = await client.send(new GetSecretValueCommand({ SecretId: name, VersionId: TOKEN_A }));
    expect(old.SecretString).toBe('v1');
    expect(old.VersionStages).toEqual([]);
  });

  it('treats a repeated ClientRequestToken with the same value as a no-op, with a different one as ResourceExists', async () => {
    const name = uniqueName('idem');
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: TOKEN_A }));
    const first = await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'v2', ClientRequestToken: TOKEN_B }));
    const again = await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'v2', ClientRequestToken: TOKEN_B }));
    expect(again.VersionId).toBe(first.VersionId);
    const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
    expect(Object.keys(described.VersionIdsToStages ?? {})).toHaveLength(2);

    const conflict = await thrown(() => client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'other', ClientRequestToken: TOKEN_B })));
    expect(conflict).toBeInstanceOf(ResourceExistsException);

    // CreateSecret retried with its own token and value answers like the first call.
    const recreated = await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: TOKEN_A }));
    expect(recreated.VersionId).toBe(TOKEN_A);
  });

  it('refuses CreateSecret on an existing name with ResourceExistsException', async () => {
    const name = uniqueName('exists');
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v1' }));
    const error = await thrown(() => client.send(new CreateSecretCommand({ Name: name, SecretString: 'v2' })));
    expect(error).toBeInstanceOf(ResourceExistsException);
    expect(error).toMatchObject({ $metadata: { httpStatusCode: 400 } });
  });

  it('answers ResourceNotFoundException for unknown secrets and missing versions', async () => {
    expect(await thrown(() => client.send(new GetSecretValueCommand({ SecretId: 'test/nope' })))).toBeInstanceOf(ResourceNotFoundException);
    expect(await thrown(() => client.send(new PutSecretValueCommand({ SecretId: 'test/nope', SecretString: 'x' })))).toBeInstanceOf(ResourceNotFoundException);
    const name = uniqueName('novalue');
    await client.send(new CreateSecretCommand({ Name: name }));
    expect(await thrown(() => client.send(new GetSecretValueCommand({ SecretId: name })))).toBeInstanceOf(ResourceNotFoundException);
    expect(await thrown(() => client.send(new GetSecretValueCommand({ SecretId: name, VersionId: TOKEN_C })))).toBeInstanceOf(ResourceNotFoundException);
  });

  it('rejects bad parameters with InvalidParameterException', async () => {
    const name = uniqueName('params');
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v1' }));
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['no value', () => client.send(new PutSecretValueCommand({ SecretId: name }))],
      ['short token', () => client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'x', ClientRequestToken: 'short' }))],
      ['long token', () => client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'x', ClientRequestToken: 'x'.repeat(65) }))],
      ['65,537 bytes', () => client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'x'.repeat(65_537) }))],
      ['bad name', () => client.send(new CreateSecretCommand({ Name: 'bad name!', SecretString: 'x' }))],
      ['short window', () => client.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 3 }))],
      ['window and force', () => client.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true }))],
    ];
    for (const [label, send] of cases) {
      expect(await thrown(send), label).toBeInstanceOf(InvalidParameterException);
    }
    // Exactly 65,536 bytes is allowed.
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'x'.repeat(65_536) }));
  });
});

describe('local Secrets Manager: batch reads, listing and pagination', () => {
  it('BatchGetSecretValue returns values and per-secret errors', async () => {
    const a = uniqueName('batch');
    const b = uniqueName('batch');
    await client.send(new CreateSecretCommand({ Name: a, SecretString: 'A' }));
    await client.send(new CreateSecretCommand({ Name: b, SecretString: 'B' }));
    const result = await client.send(new BatchGetSecretValueCommand({ SecretIdList: [a, 'test/missing', b] }));
    expect(result.SecretValues?.map((v) => v.SecretString)).toEqual(['A', 'B']);
    expect(result.SecretValues?.[0]?.CreatedDate).toBeInstanceOf(Date);
    expect(result.Errors).toHaveLength(1);
    expect(result.Errors?.[0]).toMatchObject({ SecretId: 'test/missing', ErrorCode: 'ResourceNotFoundException' });
    const tooMany = Array.from({ length: 21 }, (_, i) => `x${i}`);
    expect(await thrown(() => client.send(new BatchGetSecretValueCommand({ SecretIdList: tooMany })))).toBeInstanceOf(InvalidParameterException);
  });

  it('ListSecrets filters by name and tags, pages with NextToken, and BatchGetSecretValue pages with Filters', async () => {
    const prefix = uniqueName('list');
    for (let i = 0; i < 7; i += 1) {
      await client.send(
        new CreateSecretCommand({
          Name: `${prefix}/s${i}`,
          SecretString: `value-${i}`,
          Tags: [{ Key: 'group', Value: prefix }, { Key: 'parity', Value: i % 2 === 0 ? 'even' : 'odd' }],
        }),
      );
    }
    const names: string[] = [];
    let pages = 0;
    for await (const page of paginateListSecrets({ client, pageSize: 3 }, { Filters: [{ Key: 'name', Values: [`${prefix}/`] }] })) {
      pages += 1;
      names.push(...(page.SecretList ?? []).map((s) => s.Name ?? ''));
      expect(page.SecretList?.[0]?.SecretVersionsToStages).toBeDefined();
    }
    expect(pages).toBe(3);
    expect(names.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `${prefix}/s${i}`));

    const even = await client.send(
      new ListSecretsCommand({ Filters: [{ Key: 'tag-key', Values: ['parity'] }, { Key: 'tag-value', Values: ['even'] }, { Key: 'name', Values: [prefix] }] }),
    );
    expect(even.SecretList?.map((s) => s.Name)).toEqual([`${prefix}/s0`, `${prefix}/s2`, `${prefix}/s4`, `${prefix}/s6`]);
    expect(even.SecretList?.[0]?.Tags).toEqual([{ Key: 'group', Value: prefix }, { Key: 'parity', Value: 'even' }]);
    const notEven = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }, { Key: 'tag-value', Values: ['!even'] }] }));
    expect(notEven.SecretList).toHaveLength(3);

    const first = await client.send(new BatchGetSecretValueCommand({ Filters: [{ Key: 'tag-value', Values: [prefix] }], MaxResults: 5 }));
    expect(first.SecretValues).toHaveLength(5);
    expect(first.NextToken).toBeDefined();
    const second = await client.send(new BatchGetSecretValueCommand({ Filters: [{ Key: 'tag-value', Values: [prefix] }], MaxResults: 5, NextToken: first.NextToken }));
    expect(second.SecretValues).toHaveLength(2);
    expect(second.NextToken).toBeUndefined();

    expect(await thrown(() => client.send(new ListSecretsCommand({ NextToken: 'garbage' })))).toBeInstanceOf(InvalidNextTokenException);
  });
});

describe('local Secrets Manager: tags, stages, deletion', () => {
  it('TagResource merges tags and DescribeSecret reports them', async () => {
    const name = uniqueName('tags');
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v', Tags: [{ Key: 'a', Value: '1' }] }));
    await client.send(new TagResourceCommand({ SecretId: name, Tags: [{ Key: 'a', Value: '2' }, { Key: 'b', Value: '3' }] }));
    const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.Tags).toEqual([{ Key: 'a', Value: '2' }, { Key: 'b', Value: '3' }]);
    expect(described.CreatedDate).toBeInstanceOf(Date);
    expect(described.LastChangedDate).toBeInstanceOf(Date);
  });

  it('UpdateSecretVersionStage moves AWSCURRENT back (a rollback) and AWSPREVIOUS follows', async () => {
    const name = uniqueName('rollback');
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v1', ClientRequestToken: TOKEN_A }));
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'v2', ClientRequestToken: TOKEN_B }));
    const missingRemove = await thrown(() => client.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', MoveToVersionId: TOKEN_A })));
    expect(missingRemove).toBeInstanceOf(InvalidParameterException);
    await client.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'AWSCURRENT', MoveToVersionId: TOKEN_A, RemoveFromVersionId: TOKEN_B }));
    const described = await client.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.VersionIdsToStages).toEqual({ [TOKEN_A]: ['AWSCURRENT'], [TOKEN_B]: ['AWSPREVIOUS'] });
    expect((await client.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('v1');
    // A custom label can be attached and removed.
    await client.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'PINNED', MoveToVersionId: TOKEN_B }));
    await client.send(new UpdateSecretVersionStageCommand({ SecretId: name, VersionStage: 'PINNED', RemoveFromVersionId: TOKEN_B }));
    expect(await thrown(() => client.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'PINNED' })))).toBeInstanceOf(ResourceNotFoundException);
  });

  it('schedules deletion, refuses use meanwhile with InvalidRequestException, restores, and purges after the window', async () => {
    const name = uniqueName('delete');
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v1' }));
    const deleted = await client.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    expect(deleted.DeletionDate).toBeInstanceOf(Date);
    expect(await thrown(() => client.send(new GetSecretValueCommand({ SecretId: name })))).toBeInstanceOf(InvalidRequestException);
    expect(await thrown(() => client.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'v2' })))).toBeInstanceOf(InvalidRequestException);
    expect(await thrown(() => client.send(new CreateSecretCommand({ Name: name, SecretString: 'v2' })))).toBeInstanceOf(InvalidRequestException);
    const batch = await client.send(new BatchGetSecretValueCommand({ SecretIdList: [name] }));
    expect(batch.Errors?.[0]?.ErrorCode).toBe('InvalidRequestException');
    const hidden = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [name] }] }));
    expect(hidden.SecretList).toEqual([]);
    const shown = await client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [name] }], IncludePlannedDeletion: true }));
    expect(shown.SecretList?.[0]?.DeletedDate).toBeInstanceOf(Date);
    expect((await client.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate).toBeInstanceOf(Date);

    await client.send(new RestoreSecretCommand({ SecretId: name }));
    expect((await client.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('v1');

    await client.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    // The server's clock moves on 8 days; the client keeps signing with the wall clock, so
    // widen nothing else: only the purge depends on the server clock.
    const skew = 8 * 86_400_000;
    const saved = clockMs;
    clockMs = Date.now() + skew;
    try {
      const late = new SecretsManagerClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, systemClockOffset: skew, maxAttempts: 1 });
      expect(await thrown(() => late.send(new DescribeSecretCommand({ SecretId: name })))).toBeInstanceOf(ResourceNotFoundException);
      late.destroy();
    } finally {
      clockMs = saved;
    }
  });

  it('ForceDeleteWithoutRecovery removes the secret at once', async () => {
    const name = uniqueName('force');
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v1' }));
    await client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    expect(await thrown(() => client.send(new DescribeSecretCommand({ SecretId: name })))).toBeInstanceOf(ResourceNotFoundException);
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'again' }));
  });
});

describe('local Secrets Manager: faults and call counts', () => {
  it('injects a fault as the typed service error and counts every call', async () => {
    server.resetCalls();
    let remaining = 2;
    nextFault = (operation) =>
      operation === 'GetSecretValue' && remaining-- > 0 ? { type: 'ThrottlingException', message: 'Rate exceeded' } : undefined;
    const name = uniqueName('fault');
    await client.send(new CreateSecretCommand({ Name: name, SecretString: 'v' }));
    const error = await thrown(() => client.send(new GetSecretValueCommand({ SecretId: name })));
    expect(error).toBeInstanceOf(SecretsManagerServiceException);
    expect(error).toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

    // The SDK's own retry (standard mode) sees a throttling error and retries it.
    const retrying = new SecretsManagerClient({ endpoint: server.endpoint, region: server.region, credentials: server.credentials, maxAttempts: 3 });
    expect((await retrying.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('v');
    retrying.destroy();
    expect(server.calls()).toEqual({ CreateSecret: 1, GetSecretValue: 3 });
    server.resetCalls();
    expect(server.calls()).toEqual({});
  });
});

describe('local Secrets Manager: SigV4', () => {
  it('rejects a wrong secret key with InvalidSignatureException', async () => {
    const wrong = clientFor(server, { secretAccessKey: 'not-the-key' });
    const error = await thrown(() => wrong.send(new ListSecretsCommand({})));
    expect(error).toMatchObject({ name: 'InvalidSignatureException', $metadata: { httpStatusCode: 403 } });
    wrong.destroy();
  });

  it('rejects an unknown access key with UnrecognizedClientException', async () => {
    const unknown = clientFor(server, { accessKeyId: 'AKIDUNKNOWN' });
    expect(await thrown(() => unknown.send(new ListSecretsCommand({})))).toMatchObject({ name: 'UnrecognizedClientException', $metadata: { httpStatusCode: 403 } });
    unknown.destroy();
  });

  it('rejects a signature scoped to another region', async () => {
    const other = clientFor(server, { region: 'us-east-2' });
    expect(await thrown(() => other.send(new ListSecretsCommand({})))).toMatchObject({ name: 'InvalidSignatureException' });
    other.destroy();
  });

  it('rejects unsigned and malformed requests, and a body altered after signing', async () => {
    const post = (headers: Record<string, string>, body: string): Promise<{ status: number; type: string | undefined; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(`${server.endpoint}/`, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.ListSecrets', ...headers } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            const header = res.headers['x-amzn-errortype'];
            resolve({ status: res.statusCode ?? 0, type: Array.isArray(header) ? header[0] : header, body: text });
          });
        });
        req.on('error', reject);
        req.end(body);
      });

    const unsigned = await post({}, '{}');
    expect(unsigned.status).toBe(403);
    expect(unsigned.type).toBe('MissingAuthenticationTokenException');
    expect(JSON.parse(unsigned.body)).toMatchObject({ __type: 'MissingAuthenticationTokenException' });

    const malformed = await post({ authorization: 'AWS4-HMAC-SHA256 garbage', 'x-amz-date': '20240101T000000Z' }, '{}');
    expect(malformed).toMatchObject({ status: 403, type: 'IncompleteSignatureException' });

    // Capture a genuine signed request, then replay its headers with another body.
    let captured: Record<string, string> = {};
    const capturing = clientFor(server);
    capturing.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request;
        if (typeof req === 'object' && req !== null && 'headers' in req && typeof req.headers === 'object' && req.headers !== null) {
          captured = Object.fromEntries(Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === 'string'));
        }
        return next(args);
      },
      { step: 'deserialize' },
    );
    await capturing.send(new ListSecretsCommand({}));
    capturing.destroy();
    const headers = Object.fromEntries(Object.entries(captured).filter(([key]) => key.toLowerCase() !== 'content-length'));
    const replayed = await post(headers, '{}');
    expect(replayed.status).toBe(200);
    const altered = await post(headers, '{"MaxResults":1}');
    expect(altered).toMatchObject({ status: 403, type: 'InvalidSignatureException' });
    // Even with the payload hash header updated to match, the signature no longer verifies.
    const rehashed = await post({ ...headers, 'x-amz-content-sha256': createHash('sha256').update('{"MaxResults":1}').digest('hex') }, '{"MaxResults":1}');
    expect(rehashed).toMatchObject({ status: 403, type: 'InvalidSignatureException' });
    expect(JSON.parse(rehashed.body)).toMatchObject({ message: expect.stringMatching(/signature we calculated does not match/) as unknown });
  });
});
