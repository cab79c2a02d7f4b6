import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { leafStoreOf, loadConfigFile, parseConfig } from '../../lib/config/index.js';
import { ValidationError } from '../../lib/errors.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

type Json = Record<string, unknown>;

/** A small valid document: one authority with only its name, two leaves that talk to each other. */
function document(overrides: { authorities?: Json[]; leaves?: Json[]; renewal?: Json } = {}): Json {
  return {
    authorities: overrides.authorities ?? [{ name: 'cluster' }],
    leaves: overrides.leaves ?? [leaf({ id: 'kube-apiserver', consumers: ['kubelet'] }), leaf({ id: 'kubelet', usage: 'client' })],
    ...(overrides.renewal === undefined ? {} : { renewal: overrides.renewal }),
  };
}

function leaf(fields: Json = {}): Json {
  return { authority: 'cluster', id: 'kube-apiserver', subject: 'CN=kube-apiserver', usage: 'server', lifetimeDays: 30, ...fields };
}

/** The ValidationError parseConfig throws for `input`; fails the test if it does not throw one. */
function refusal(input: unknown): ValidationError {
  try {
    parseConfig(input);
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('parseConfig accepted an invalid document');
}

/** The problem lines of a refusal, one per problem, each "path: message". */
function problems(input: unknown): string[] {
  return refusal(input)
    .message.split('\n')
    .slice(1)
    .map((line) => line.replace(/^ {2}- /, ''));
}

describe('parseConfig', () => {
  it('accepts a minimal file and fills every default: p256, a 365-day CA, a 30-day lead, 2 h soaks, renewal 24 h before expiry with 60 min jitter', () => {
    const config = parseConfig(document());
    expect(config.authorities).toEqual([
      {
        name: 'cluster',
        algorithm: 'p256',
        rotation: {
          caLifetimeMs: 365 * DAY,
          rotationLeadMs: 30 * DAY,
          soakMs: { trustExpanded: 2 * HOUR, leavesMigrated: 2 * HOUR },
          republishAfterMs: 10 * MINUTE,
        },
      },
    ]);
    expect(config.renewal).toEqual({ renewBeforeMs: 24 * HOUR, jitterWindowMs: 60 * MINUTE });
    expect(config.leaves).toEqual([
      {
        authority: 'cluster',
        id: 'kube-apiserver',
        subject: 'CN=kube-apiserver',
        dnsNames: [],
        ipAddresses: [],
        uris: [],
        usage: 'server',
        lifetimeMs: 30 * DAY,
        algorithm: 'p256',
        consumers: ['kubelet'],
      },
      expect.objectContaining({ id: 'kubelet', usage: 'client', consumers: [], algorithm: 'p256' }),
    ]);
  });

  it('converts every explicit setting from days, hours and minutes to milliseconds', () => {
    const config = parseConfig(
      document({
        authorities: [
          { name: 'etcd', algorithm: 'p384', caLifetimeDays: 730, rotationLeadDays: 90, soakHours: { trustExpanded: 3, leavesMigrated: 0.5 }, republishAfterMinutes: 15 },
        ],
        leaves: [
          leaf({ authority: 'etcd', id: 'etcd-0', subject: 'CN=etcd-0', dnsNames: ['etcd-0.etcd'], ipAddresses: ['10.0.0.1'], uris: ['spiffe://cluster/etcd-0'], usage: 'both', lifetimeDays: 90, algorithm: 'rsa2048' }),
        ],
        renewal: { renewBeforeHours: 48, jitterMinutes: 0 },
      }),
    );
    expect(config.authorities[0]).toEqual({
      name: 'etcd',
      algorithm: 'p384',
      rotation: { caLifetimeMs: 730 * DAY, rotationLeadMs: 90 * DAY, soakMs: { trustExpanded: 3 * HOUR, leavesMigrated: HOUR / 2 }, republishAfterMs: 15 * MINUTE },
    });
    expect(config.leaves[0]).toMatchObject({ dnsNames: ['etcd-0.etcd'], ipAddresses: ['10.0.0.1'], uris: ['spiffe://cluster/etcd-0'], usage: 'both', lifetimeMs: 90 * DAY, algorithm: 'rsa2048' });
    expect(config.renewal).toEqual({ renewBeforeMs: 48 * HOUR, jitterWindowMs: 0 });
  });

  it('accepts a rotation lead exactly as long as the longest leaf lifetime', () => {
    expect(() => parseConfig(document({ authorities: [{ name: 'cluster', rotationLeadDays: 30 }], leaves: [leaf({ lifetimeDays: 30 })] }))).not.toThrow();
  });

  describe('refuses, naming the path of the problem', () => {
    it.each([
      ['at the root', { ...document(), extra: true }, 'config.extra: unknown key'],
      ['in an authority', document({ authorities: [{ name: 'cluster', caLifetime: 365 }] }), 'config.authorities[0].caLifetime: unknown key'],
      ['in the soak hours', document({ authorities: [{ name: 'cluster', soakHours: { trustExpanded: 2, leavesMigrated: 2, contracting: 2 } }] }), 'config.authorities[0].soakHours.contracting: unknown key'],
      ['in a leaf', document({ leaves: [leaf({ dnsName: ['a'] })] }), 'config.leaves[0].dnsName: unknown key'],
      ['in the renewal settings', document({ renewal: { renewBeforeDays: 1 } }), 'config.renewal.renewBeforeDays: unknown key'],
    ])('an unknown key %s', (_where, input, expected) => {
      expect(problems(input)).toContainEqual(expect.stringContaining(expected));
    });

    it.each([
      ['a document that is not an object', [], 'config: expected an object, got an array'],
      ['authorities that are not an array', { authorities: { name: 'cluster' }, leaves: [] }, 'config.authorities: expected an array, got an object'],
      ['a CA lifetime given as a string', document({ authorities: [{ name: 'cluster', caLifetimeDays: '365' }] }), 'config.authorities[0].caLifetimeDays: expected a number, got the string "365"'],
      ['a negative rotation lead', document({ authorities: [{ name: 'cluster', rotationLeadDays: -1 }] }), 'config.authorities[0].rotationLeadDays: must be at least 0'],
      ['soak hours that are not an object', document({ authorities: [{ name: 'cluster', soakHours: 2 }] }), 'config.authorities[0].soakHours: expected an object, got number 2'],
      ['a soak hour missing', document({ authorities: [{ name: 'cluster', soakHours: { trustExpanded: 2 } }] }), 'config.authorities[0].soakHours.leavesMigrated: required'],
      ['a republish interval under a minute', document({ authorities: [{ name: 'cluster', republishAfterMinutes: 0 }] }), 'config.authorities[0].republishAfterMinutes: must be at least 1'],
      ['a leaf lifetime given as null', document({ leaves: [leaf({ lifetimeDays: null })] }), 'config.leaves[0].lifetimeDays: expected a number, got null'],
      ['a leaf lifetime under an hour', document({ leaves: [leaf({ lifetimeDays: 0.01 })] }), 'config.leaves[0].lifetimeDays: must be at least'],
      ['DNS names that are not strings', document({ leaves: [leaf({ dnsNames: ['ok.example', 7] })] }), 'config.leaves[0].dnsNames[1]: expected a string, got number 7'],
      ['consumers given as one string', document({ leaves: [leaf({ consumers: 'kubelet' })] }), 'config.leaves[0].consumers: expected an array, got the string "kubelet"'],
      ['a missing leaf subject', document({ leaves: [{ authority: 'cluster', id: 'a', usage: 'server', lifetimeDays: 1 }] }), 'config.leaves[0].subject: required'],
      ['a subject that is not a distinguished name', document({ leaves: [leaf({ subject: 'kube-apiserver' })] }), 'config.leaves[0].subject: "kube-apiserver" is not a distinguished name'],
      ['a renewal lead of zero', document({ renewal: { renewBeforeHours: 0 } }), 'config.renewal.renewBeforeHours: must be at least 2, got 0'],
      ['a negative jitter', document({ renewal: { jitterMinutes: -5 } }), 'config.renewal.jitterMinutes: must be at least 0'],
    ])('a wrong type or value: %s', (_what, input, expected) => {
      expect(problems(input)).toContainEqual(expect.stringContaining(expected));
    });

    it.each([
      ['an upper-case authority name', document({ authorities: [{ name: 'Cluster' }] }), 'config.authorities[0].name: "Cluster" must be lowercase letters, digits and dashes'],
      ['an authority name ending in a dash', document({ authorities: [{ name: 'cluster-' }] }), 'config.authorities[0].name: "cluster-" must be lowercase'],
      ['an authority name of 64 characters', document({ authorities: [{ name: 'a'.repeat(64) }] }), 'config.authorities[0].name:'],
      ['an authority name with a slash', document({ authorities: [{ name: 'a/b' }] }), 'config.authorities[0].name: "a/b"'],
      ['a leaf id with a slash', document({ leaves: [leaf({ id: 'a/b' })] }), 'config.leaves[0].id: "a/b" must be 1-128 letters'],
      ['an empty leaf id', document({ leaves: [leaf({ id: '' })] }), 'config.leaves[0].id: "" must be 1-128 letters'],
      ['a leaf id of 129 characters', document({ leaves: [leaf({ id: 'x'.repeat(129) })] }), 'config.leaves[0].id:'],
      ['a leaf authority that is not a valid name', document({ leaves: [leaf({ authority: 'Cluster' })] }), 'config.leaves[0].authority: "Cluster"'],
    ])('a bad name or id: %s', (_what, input, expected) => {
      expect(problems(input)).toContainEqual(expect.stringContaining(expected));
    });

    it('accepts the longest names and ids allowed (63-character authority, 128-character leaf id)', () => {
      const name = `a${'-'.repeat(61)}b`;
      expect(() => parseConfig(document({ authorities: [{ name }], leaves: [leaf({ authority: name, id: 'x'.repeat(128) })] }))).not.toThrow();
    });

    it.each([
      ['a leaf usage', document({ leaves: [leaf({ usage: 'serverAuth' })] }), 'config.leaves[0].usage: expected one of server, client, both, got the string "serverAuth"'],
      ['an authority algorithm', document({ authorities: [{ name: 'cluster', algorithm: 'ed25519' }] }), 'config.authorities[0].algorithm: expected one of p256, p384, rsa2048, rsa3072, rsa4096, got the string "ed25519"'],
      ['a leaf algorithm', document({ leaves: [leaf({ algorithm: 'P256' })] }), 'config.leaves[0].algorithm: expected one of p256'],
    ])('an unknown %s', (_what, input, expected) => {
      expect(problems(input)).toContainEqual(expect.stringContaining(expected));
    });

    it('a leaf of an authority that is not defined', () => {
      expect(problems(document({ leaves: [leaf(), leaf({ authority: 'etcd', id: 'etcd-0' })] }))).toEqual([
        'config.leaves[1].authority: no authority named "etcd"',
      ]);
    });

    it('an authority defined twice', () => {
      expect(problems(document({ authorities: [{ name: 'cluster' }, { name: 'etcd' }, { name: 'cluster' }], leaves: [leaf()] }))).toEqual([
        'config.authorities: authority "cluster" is defined twice',
      ]);
    });

    it('a leaf id defined twice in one authority, but not the same id in two authorities', () => {
      const authorities = [{ name: 'cluster' }, { name: 'etcd' }];
      expect(problems(document({ authorities, leaves: [leaf(), leaf({ subject: 'CN=other' })] }))).toEqual([
        'config.leaves[1].id: leaf "kube-apiserver" of authority "cluster" is defined twice',
      ]);
      expect(() => parseConfig(document({ authorities, leaves: [leaf(), leaf({ authority: 'etcd' })] }))).not.toThrow();
    });

    it('a consumer that is not a leaf of the same authority, even when another authority has that leaf', () => {
      const authorities = [{ name: 'cluster' }, { name: 'etcd' }];
      const leaves = [leaf({ consumers: ['etcd-0', 'nobody'] }), leaf({ authority: 'etcd', id: 'etcd-0', subject: 'CN=etcd-0' })];
      expect(problems(document({ authorities, leaves }))).toEqual([
        'config.leaves[0].consumers: "etcd-0" is not a leaf of authority "cluster"',
        'config.leaves[0].consumers: "nobody" is not a leaf of authority "cluster"',
      ]);
    });

    it('a rotation lead shorter than the longest leaf lifetime of that authority', () => {
      const found = problems(document({ authorities: [{ name: 'cluster', rotationLeadDays: 30 }], leaves: [leaf({ lifetimeDays: 7 }), leaf({ id: 'long', lifetimeDays: 31 })] }));
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/^config\.authorities\[0\]: rotation config: rotationLeadDays \(30d\) is shorter than the longest leaf lifetime.*Raise rotationLeadDays/);
    });

    it('a rotation lead as long as the CA lifetime, or longer', () => {
      for (const rotationLeadDays of [90, 120]) {
        const found = problems(document({ authorities: [{ name: 'cluster', caLifetimeDays: 90, rotationLeadDays }] }));
        expect(found).toHaveLength(1);
        expect(found[0]).toMatch(/^config\.authorities\[0\]: .*rotationLeadDays .*must be shorter than caLifetimeDays/);
      }
    });

    it('a rotation lead that leaves no room for the soaks', () => {
      const found = problems(document({ authorities: [{ name: 'cluster', rotationLeadDays: 1, soakHours: { trustExpanded: 12, leavesMigrated: 12 } }], leaves: [leaf({ lifetimeDays: 1 })], renewal: { renewBeforeHours: 6, jitterMinutes: 0 } }));
      expect(found).toEqual([expect.stringMatching(/^config\.authorities\[0\]: .*rotationLeadDays .*must exceed the two soak times/)]);
    });

    it('a CA lifetime of zero days', () => {
      expect(problems(document({ authorities: [{ name: 'cluster', caLifetimeDays: 0 }] }))).toEqual([
        'config.authorities[0].caLifetimeDays: must be at least 1, got 0',
      ]);
    });
  });

  it('reports every problem of a file in one ValidationError, not only the first', () => {
    const input = {
      authorities: [{ name: 'Cluster', algorithm: 'dsa' }, { name: 'etcd', typo: 1 }],
      leaves: [leaf({ authority: 'etcd', usage: 'mtls', lifetimeDays: '30' })],
      renewal: { jitterMinutes: 'sixty' },
    };
    const error = refusal(input);
    expect(error.name).toBe('ValidationError');
    expect(error.message).toMatch(/^configuration is invalid:\n/);
    expect(problems(input).map((line) => line.slice(0, line.indexOf(':')))).toEqual([
      'config.authorities[0].name',
      'config.authorities[0].algorithm',
      'config.authorities[1].typo',
      'config.leaves[0].usage',
      'config.leaves[0].lifetimeDays',
      'config.renewal.jitterMinutes',
    ]);
  });

  it('reports every cross-reference problem together once the shapes are right', () => {
    const found = problems(
      document({
        authorities: [{ name: 'cluster' }, { name: 'cluster' }],
        leaves: [leaf({ consumers: ['ghost'] }), leaf(), leaf({ authority: 'etcd', id: 'etcd-0' })],
      }),
    );
    expect(found).toEqual([
      'config.authorities: authority "cluster" is defined twice',
      'config.leaves[1].id: leaf "kube-apiserver" of authority "cluster" is defined twice',
      'config.leaves[2].authority: no authority named "etcd"',
      'config.leaves[0].consumers: "ghost" is not a leaf of authority "cluster"',
    ]);
  });

  it('never echoes key bytes pasted as a consumer (found by the fuzzer: the leaf-id pattern lets base64 through)', () => {
    const keyBody = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64').replace(/[+/=]/g, 'x').slice(20, 120);
    const found = problems(document({ leaves: [leaf({ consumers: [keyBody] })] }));
    expect(found).toEqual(['config.leaves[0].consumers[0]: a value that looks like key material (not shown) is refused: an id must hold no key material']);
    expect(found.join('\n')).not.toContain(keyBody.slice(0, 24));
  });
});

describe('leafStore', () => {
  it('is secretsmanager where an authority names none, and s3 where it says so, per authority', () => {
    const config = parseConfig(document({ authorities: [{ name: 'cluster' }, { name: 'etcd', leafStore: 's3' }, { name: 'front-proxy', leafStore: 'secretsmanager' }] }));
    expect(config.authorities.map((authority) => leafStoreOf(authority))).toEqual(['secretsmanager', 's3', 'secretsmanager']);
    expect(config.authorities[0]).not.toHaveProperty('leafStore');
  });

  it('refuses any other value with its path', () => {
    expect(problems(document({ authorities: [{ name: 'cluster', leafStore: 'S3' }] }))).toEqual([
      'config.authorities[0].leafStore: expected one of secretsmanager, s3, got the string "S3"',
    ]);
    expect(problems(document({ authorities: [{ name: 'cluster', leafStore: true }] }))[0]).toMatch(/^config\.authorities\[0\]\.leafStore: expected one of secretsmanager, s3/);
  });
});

describe('loadConfigFile', () => {
  const directory = mkdtempSync(join(tmpdir(), 'certrotate-config-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('reads and validates a JSON file', () => {
    const path = join(directory, 'good.json');
    writeFileSync(path, JSON.stringify(document()));
    expect(loadConfigFile(path)).toEqual(parseConfig(document()));
  });

  it('refuses a missing file with a ValidationError naming the file', () => {
    const path = join(directory, 'missing.json');
    expect(() => loadConfigFile(path)).toThrow(ValidationError);
    expect(() => loadConfigFile(path)).toThrow(`configuration file ${path} could not be read as JSON`);
    expect(() => loadConfigFile(path)).toThrow(/ENOENT/);
  });

  it('refuses malformed JSON with a ValidationError naming the file and keeping the parse error as its cause', () => {
    const path = join(directory, 'malformed.json');
    writeFileSync(path, '{"authorities": [');
    let thrown: unknown;
    try {
      loadConfigFile(path);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect(String(thrown)).toContain(`configuration file ${path} could not be read as JSON`);
    expect(thrown instanceof Error ? thrown.cause : undefined).toBeInstanceOf(SyntaxError);
  });

  it('refuses a well-formed file whose content is invalid, naming the path inside it', () => {
    const path = join(directory, 'invalid.json');
    writeFileSync(path, JSON.stringify({ ...document(), leaves: [leaf({ usage: 'peer' })] }));
    expect(() => loadConfigFile(path)).toThrow(/config\.leaves\[0\]\.usage: expected one of server, client, both/);
  });
});
