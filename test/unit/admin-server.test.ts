import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/config/env.ts';
import { adminSpec } from '../../src/config/admin.ts';
import { CdcError } from '../../src/core/errors.ts';
import { createLogger } from '../../src/core/logger.ts';
import { startAdminServer } from '../../src/http/admin-server.ts';
import { authenticate } from '../../src/http/bearer-auth.ts';
import { AuditLog } from '../../src/ops/audit-log.ts';
import { RefusalAudit } from '../../src/ops/refusal-audit.ts';

const TOKEN = 'ops-token-0123456789abcdef';

/** The admin listener in-process over TLS with a throw-away certificate: authentication, errors, audit. */
describe('admin API server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdc-admin-'));
  const auditFile = join(dir, 'audit.jsonl');
  let server: Awaited<ReturnType<typeof startAdminServer>>;
  let ca: Buffer;
  let paused = 0;

  const call = (method: string, path: string, token?: string, body?: string) =>
    // biome-ignore lint/suspicious/noExplicitAny: admin answers are JSON of any shape
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, method, path, ca, servername: 'localhost', headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(body);
    });

  before(async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    ca = readFileSync(join(dir, 'cert.pem'));
    const config = loadConfig(adminSpec, {
      ADMIN_TOKENS: `ops:${TOKEN}`,
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: '0',
      ADMIN_TLS_CERT_FILE: join(dir, 'cert.pem'),
      ADMIN_TLS_KEY_FILE: join(dir, 'key.pem'),
      AUDIT_LOG_FILE: auditFile,
    });
    const log = createLogger('silent', 'test');
    const actions = [
      { method: 'POST' as const, path: '/admin/pause', description: 'count', run: async () => ({ paused: ++paused }) },
      { method: 'POST' as const, path: '/admin/fail', description: 'fails', run: async () => Promise.reject(new CdcError('ARGUMENT_INVALID', 'bad argument')) },
    ];
    server = await startAdminServer({ ...config, ADMIN_TOKENS: config.ADMIN_TOKENS! }, actions, new AuditLog('test', config, log), new Registry(), log);
    assert.equal(server.tls, true);
  });
  after(() => server?.close());

  it('authenticates bearer tokens: 401 without, 403 wrong, 200 right, over TLS', async () => {
    assert.equal((await call('POST', '/admin/pause')).status, 401);
    assert.equal((await call('POST', '/admin/pause', 'x')).status, 403);
    assert.equal((await call('POST', '/admin/pause', `${TOKEN}x`)).status, 403);
    const ok = await call('POST', '/admin/pause', TOKEN);
    assert.deepEqual([ok.status, ok.body], [200, { ok: true, result: { paused: 1 } }]);
    assert.equal(paused, 1, 'refused calls ran nothing');
    const failed = await call('POST', '/admin/fail', TOKEN);
    assert.deepEqual([failed.status, failed.body.error.code], [400, 'ARGUMENT_INVALID']);
    assert.equal((await call('GET', '/admin/nothing', TOKEN)).status, 404);
  });

  it('audits every call without the token; a repeated refusal is summed, not written at once', () => {
    const text = readFileSync(auditFile, 'utf8');
    assert.ok(!text.includes(TOKEN));
    const entries = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { who: string | null; outcome: string });
    assert.deepEqual(
      entries.map((e) => [e.who, e.outcome]),
      [
        [null, 'unauthenticated'],
        [null, 'forbidden'],
        ['ops', 'started'],
        ['ops', 'ok'],
        ['ops', 'started'],
        ['ops', 'failed'],
        ['ops', 'not_found'],
      ],
    );
  });

  it('sums refusals per client, action and outcome: the first written at once, the rest as one entry with a count', async () => {
    const file = join(dir, 'refusals.jsonl');
    const log = createLogger('silent', 'test');
    const audit = new AuditLog('test', { AUDIT_LOG_FILE: file }, log);
    const refusals = new RefusalAudit(audit, log, 60_000);
    const lines = () =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { remote: string; outcome: string; count?: number });
    for (let i = 0; i < 500; i++) await refusals.record({ remote: '10.0.0.1', action: 'unknown', outcome: 'unauthenticated', status: 401, path: `/x${i}` });
    await refusals.record({ remote: '10.0.0.2', action: 'unknown', outcome: 'unauthenticated', status: 401 });
    assert.deepEqual(
      lines().map((l) => [l.remote, l.count]),
      [
        ['10.0.0.1', undefined],
        ['10.0.0.2', undefined],
      ],
    );
    await refusals.close();
    await audit.close();
    assert.deepEqual(lines()[2], { ...lines()[2], remote: '10.0.0.1', outcome: 'unauthenticated', count: 499 });
    assert.equal(lines().length, 3);
  });

  it('warns at start when listening on a non-loopback address without TLS, not on loopback', async () => {
    const warnings = async (host: string) => {
      const lines: Array<{ level: string; msg: string }> = [];
      const log = createLogger('info', 'test', { write: (text: string) => void lines.push(JSON.parse(text)) });
      const config = loadConfig(adminSpec, { ADMIN_TOKENS: `ops:${TOKEN}`, ADMIN_HOST: host, ADMIN_PORT: '0' });
      const plain = await startAdminServer({ ...config, ADMIN_TOKENS: config.ADMIN_TOKENS! }, [], new AuditLog('test', config, log), new Registry(), log);
      plain.close();
      return lines.filter((l) => l.level === 'warn').map((l) => l.msg);
    };
    assert.deepEqual(await warnings('127.0.0.1'), []);
    assert.match((await warnings('0.0.0.0')).join('\n'), /non-loopback address without TLS/);
  });

  it('reads tokens as id:token pairs and rejects malformed lists without echoing them', () => {
    const tokens = loadConfig(adminSpec, { ADMIN_TOKENS: `a:${TOKEN}\nb:${TOKEN}-2` }).ADMIN_TOKENS!;
    assert.deepEqual(authenticate(`Bearer ${TOKEN}-2`, tokens), { outcome: 'ok', id: 'b' });
    assert.deepEqual(authenticate('Basic abc', tokens), { outcome: 'unauthenticated' });
    assert.throws(
      () => loadConfig(adminSpec, { ADMIN_TOKENS: 'short:abc,noid' }),
      (error: CdcError) => {
        const problems = (error.details!.problems as string[]).join('\n');
        return /shorter than 16/.test(problems) && !problems.includes('abc');
      },
    );
  });
});
