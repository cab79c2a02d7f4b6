import { request } from 'node:https';
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startLocalKubernetes } from '../../lib/local/kubernetes-server.js';
import type { KubeFault, LocalKubernetes } from '../../lib/local/kubernetes-server.js';

const GOOD = 'good-token';
let server: LocalKubernetes;
let fault: KubeFault | undefined;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function call(method: string, path: string, options: { token?: string; body?: unknown; contentType?: string; ca?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(new URL(path, server.endpoint), {
      method,
      agent: false,
      ca: options.ca ?? server.caPem,
      headers: {
        ...(options.token === '' ? {} : { authorization: `Bearer ${options.token ?? GOOD}` }),
        ...(payload === undefined ? {} : { 'content-type': options.contentType ?? 'application/json' }),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        resolve({ status: res.statusCode ?? 0, body: typeof parsed === 'object' && parsed !== null ? Object.fromEntries(Object.entries(parsed)) : {} });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const meta = (answer: Answer): Record<string, unknown> => {
  const m = answer.body['metadata'];
  return typeof m === 'object' && m !== null ? Object.fromEntries(Object.entries(m)) : {};
};

const SECRETS = '/api/v1/namespaces/apps/secrets';
const apply = (name: string, body: Record<string, unknown>, manager = 'certrotate', force = false): Promise<Answer> =>
  call('PATCH', `${SECRETS}/${name}?fieldManager=${manager}${force ? '&force=true' : ''}`, {
    body: { apiVersion: 'v1', kind: 'Secret', metadata: { name }, ...body },
    contentType: 'application/apply-patch+yaml',
  });
const b64 = (text: string): string => Buffer.from(text).toString('base64');

beforeAll(async () => {
  server = await startLocalKubernetes({
    namespaces: ['apps', 'kube-system'],
    verifyToken: (token) => Promise.resolve(token === GOOD ? { username: 'tester' } : token === 'reader' ? { username: 'reader' } : undefined),
    authorize: (user, req) => user.username !== 'reader' || req.verb === 'get',
    faults: () => fault,
  });
});
afterAll(() => server.stop());
beforeEach(() => {
  fault = undefined;
});

describe('local Kubernetes API', () => {
  it('answers 401 Unauthorized as a Status for a missing or bad token, and 403 when not allowed', async () => {
    for (const token of ['', 'forged']) {
      const answer = await call('GET', `${SECRETS}/x`, { token });
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    const forbidden = await apply('ro', { data: { a: b64('1') } }).then(() => call('PATCH', `${SECRETS}/ro?fieldManager=x`, { token: 'reader', body: {}, contentType: 'application/merge-patch+json' }));
    expect(forbidden.status).toBe(403);
    expect(forbidden.body['message']).toBe('secrets "ro" is forbidden: User "reader" cannot patch resource "secrets" in API group "" in the namespace "apps"');
  });

  it('serves only with its own CA: a client trusting another CA fails the handshake', async () => {
    const other = await startLocalKubernetes({ namespaces: [], verifyToken: () => Promise.resolve(undefined), name: 'other-kube' });
    await expect(call('GET', `${SECRETS}/x`, { ca: other.caPem })).rejects.toThrow(/certificate/i);
    await other.stop();
  });

  it('answers 404 NotFound for an unknown namespace and an unknown object', async () => {
    const missing = await call('GET', '/api/v1/namespaces/nope/secrets/x');
    expect(missing.status).toBe(404);
    expect(missing.body['reason']).toBe('NotFound');
    const create = await call('PATCH', '/api/v1/namespaces/nope/secrets/x?fieldManager=m', {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } },
      contentType: 'application/apply-patch+yaml',
    });
    expect(create.status).toBe(404);
    expect(create.body['message']).toBe('namespaces "nope" not found');
    expect((await call('GET', `${SECRETS}/absent`)).body['message']).toBe('secrets "absent" not found');
    expect((await call('GET', '/api/v1/namespaces/kube-system')).body['kind']).toBe('Namespace');
  });

  it('creates by server-side apply, returns the real shape, and bumps resourceVersion only on change', async () => {
    const created = await apply('web-tls', {
      type: 'kubernetes.io/tls',
      metadata: { name: 'web-tls', labels: { app: 'web' }, annotations: { note: 'x' } },
      data: { 'tls.crt': b64('CERT'), 'tls.key': b64('KEY') },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', data: { 'tls.crt': b64('CERT'), 'tls.key': b64('KEY') } });
    const m = meta(created);
    expect(m).toMatchObject({ name: 'web-tls', namespace: 'apps', labels: { app: 'web' }, annotations: { note: 'x' } });
    expect(m['resourceVersion']).toMatch(/^\d+$/);
    expect(m['creationTimestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(m['managedFields']).toEqual([
      expect.objectContaining({
        manager: 'certrotate',
        operation: 'Apply',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:type': {}, 'f:data': { 'f:tls.crt': {}, 'f:tls.key': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} }, 'f:annotations': { 'f:note': {} } } },
      }),
    ]);

    const same = await apply('web-tls', { type: 'kubernetes.io/tls', metadata: { name: 'web-tls', labels: { app: 'web' }, annotations: { note: 'x' } }, data: { 'tls.crt': b64('CERT'), 'tls.key': b64('KEY') } });
    expect(same.status).toBe(200);
    expect(meta(same)['resourceVersion']).toBe(m['resourceVersion']);

    // Dropping a field from the applied configuration removes it.
    const changed = await apply('web-tls', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64('CERT2'), 'tls.key': b64('KEY2') } });
    expect(Number(meta(changed)['resourceVersion'])).toBeGreaterThan(Number(m['resourceVersion']));
    expect(meta(changed)['labels']).toBeUndefined();
    const read = await call('GET', `${SECRETS}/web-tls`);
    expect(read.body['data']).toEqual({ 'tls.crt': b64('CERT2'), 'tls.key': b64('KEY2') });
  });

  it('answers 409 Conflict for a stale resourceVersion on PUT and apply, and for another manager\'s field unless forced', async () => {
    const created = await apply('rv', { data: { a: b64('1') } });
    const rv = String(meta(created)['resourceVersion']);
    const put = await call('PUT', `${SECRETS}/rv`, { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rv', resourceVersion: rv }, data: { a: b64('2') } } });
    expect(put.status).toBe(200);
    const stale = await call('PUT', `${SECRETS}/rv`, { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'rv', resourceVersion: rv }, data: { a: b64('3') } } });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
    expect(stale.body['message']).toContain('the object has been modified');
    const staleApply = await apply('rv', { metadata: { name: 'rv', resourceVersion: rv }, data: { a: b64('4') } });
    expect(staleApply.status).toBe(409);

    // The PUT made "unknown" the owner of data.a: certrotate applying another value conflicts.
    const fieldConflict = await apply('rv', { data: { a: b64('5') } });
    expect(fieldConflict.status).toBe(409);
    expect(fieldConflict.body['message']).toBe('Apply failed with 1 conflict: conflict with "unknown": .data.a');
    const forced = await apply('rv', { data: { a: b64('5') } }, 'certrotate', true);
    expect(forced.status).toBe(200);
    expect(forced.body['data']).toEqual({ a: b64('5') });
  });

  it('validates like the API server: fieldManager, tls keys, immutable type, base64, content types', async () => {
    const noManager = await call('PATCH', `${SECRETS}/v`, { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'v' } }, contentType: 'application/apply-patch+yaml' });
    expect(noManager.status).toBe(422);
    expect(noManager.body['message']).toContain('fieldManager: Required value');
    const tls = await apply('v', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64('C') } });
    expect(tls.status).toBe(422);
    expect(tls.body['message']).toBe('Secret "v" is invalid: data[tls.key]: Required value');
    await apply('v', { data: { a: b64('1') } });
    const retype = await apply('v', { type: 'kubernetes.io/tls', data: { 'tls.crt': b64('C'), 'tls.key': b64('K') } }, 'certrotate', true);
    expect(retype.status).toBe(422);
    expect(retype.body['message']).toContain('type: Invalid value: field is immutable');
    expect((await apply('w', { data: { a: 'not base64!' } })).status).toBe(422);
    const jsonPatch = await call('PATCH', `${SECRETS}/v`, { body: {}, contentType: 'application/json-patch+json' });
    expect(jsonPatch.status).toBe(415);
    const wrongKind = await call('PATCH', `${SECRETS}/v?fieldManager=m`, { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'v' } }, contentType: 'application/apply-patch+yaml' });
    expect(wrongKind.status).toBe(400);
  });

  it('keeps ConfigMaps and Deployments; a merge patch of the pod template bumps the generation', async () => {
    const cm = await call('PATCH', '/api/v1/namespaces/apps/configmaps/ca?fieldManager=certrotate', {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ca' }, data: { 'ca.crt': 'PEM' } },
      contentType: 'application/apply-patch+yaml',
    });
    expect(cm.status).toBe(201);
    expect(server.object('configmaps', 'apps', 'ca')?.['data']).toEqual({ 'ca.crt': 'PEM' });
    const deployment = await call('POST', '/apis/apps/v1/namespaces/apps/deployments', {
      body: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas: 2, template: { metadata: { labels: { app: 'web' } } } } },
    });
    expect(deployment.status).toBe(201);
    expect(meta(deployment)['generation']).toBe(1);
    const patched = await call('PATCH', '/apis/apps/v1/namespaces/apps/deployments/web?fieldManager=kubectl-rollout', {
      body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-01-01T00:00:00Z' } } } } },
      contentType: 'application/strategic-merge-patch+json',
    });
    expect(patched.status).toBe(200);
    expect(meta(patched)['generation']).toBe(2);
    expect(patched.body['spec']).toEqual({ replicas: 2, template: { metadata: { labels: { app: 'web' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2024-01-01T00:00:00Z' } } } });
    expect((await call('PATCH', '/apis/apps/v1/namespaces/apps/deployments/ghost', { body: {}, contentType: 'application/merge-patch+json' })).status).toBe(404);
  });

  it('goes down (refused, 503) and comes back on the same endpoint, counting requests', async () => {
    server.resetRequests();
    await server.goDown('refuse');
    await expect(call('GET', `${SECRETS}/x`)).rejects.toThrow(/ECONNREFUSED/);
    await server.comeBack();
    expect((await call('GET', `${SECRETS}/x`)).status).toBe(404);
    await server.goDown('unavailable');
    const unavailable = await call('GET', `${SECRETS}/x`);
    expect(unavailable.status).toBe(503);
    expect(unavailable.body['reason']).toBe('ServiceUnavailable');
    await server.comeBack();
    fault = { code: 500, reason: 'InternalError', message: 'injected' };
    expect((await call('GET', `${SECRETS}/x`)).status).toBe(500);
    expect(server.requestCount()).toBe(3);
    expect(server.requests().map((r) => r.status)).toEqual([404, 503, 500]);
  });

  it('goes down resetting every connection while keeping its port, so nothing else can listen there, and comes back on it', async () => {
    server.resetRequests();
    await server.goDown('reset');
    await expect(call('GET', `${SECRETS}/x`)).rejects.toThrow(/ECONNRESET/);
    const squatter = createServer();
    const bound = await new Promise<unknown>((resolve) => {
      squatter.once('error', resolve);
      squatter.listen(Number(new URL(server.endpoint).port), '127.0.0.1', () => resolve('listening'));
    });
    squatter.close();
    expect(bound).toMatchObject({ code: 'EADDRINUSE' });
    await server.comeBack();
    expect((await call('GET', `${SECRETS}/x`)).status).toBe(404);
    expect(server.requests().map((r) => r.status)).toEqual([404]);
  });
});
