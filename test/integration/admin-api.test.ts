import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, dumpAll, runWorkload } from '../helpers/demo-tables.ts';
import { dumpIndex } from '../helpers/elasticsearch.ts';
import { capture, recordSecret } from '../helpers/capture.ts';
import { readTopic } from '../helpers/kafka.ts';
import { metricValue, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { uniqueName, type ServiceProcess } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

// Recorded as secrets of the run: the leak suite (zz-secret-leak) searches every captured line for them.
const OPS_TOKEN = recordSecret('ops-token-0123456789abcdef');
const CI_TOKEN = recordSecret('ci-token-fedcba9876543210');

interface AuditLine {
  who: string | null;
  count?: number;
  action: string;
  outcome: string;
  status?: number;
  params?: Record<string, unknown>;
  error?: { code: string };
}

/** Calls a service's admin API (its port comes from the "admin API listening" log line). */
// biome-ignore lint/suspicious/noExplicitAny: admin answers are JSON of any shape
async function admin(service: ServiceProcess, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const port = await waitFor('the admin port', () => service.lines.find((l) => l.msg === 'admin API listening')?.port as number | undefined);
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  capture('http-answers.log', `admin ${method} ${path} ${response.status}\n${text}`);
  return { status: response.status, body: JSON.parse(text) };
}

/** One admin call from another loopback address than 127.0.0.1, which the flood below gets rate-limited. */
function adminFrom(localAddress: string, port: number, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The lines of a Prometheus text answer that belong to one metric. */
async function series(service: ServiceProcess, name: string): Promise<string[]> {
  return (await service.http('/metrics')).body.split('\n').filter((l) => l.startsWith(`${name}{`));
}

function auditLines(file: string): AuditLine[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditLine);
}

describe('admin API', () => {
  const pipeline = new Pipeline(uniqueName('cdc_admin'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  const dir = mkdtempSync(join(tmpdir(), 'cdc-audit-'));
  const sinkAudit = join(dir, 'sink.jsonl');
  const sourceAudit = join(dir, 'source.jsonl');
  const adminEnv = (file: string) => ({ ADMIN_TOKENS: `ops:${OPS_TOKEN},ci:${CI_TOKEN}`, ADMIN_HOST: '127.0.0.1', ADMIN_PORT: '0', AUDIT_LOG_FILE: file });
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource(adminEnv(sourceAudit));
    await pipeline.startSink(adminEnv(sinkAudit));
    await runWorkload(conn, 1, 20);
    await waitUntilEqual(conn, checks);
  });
  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('answers 401 without a token and 403 with a wrong one, and audits both without the token', async () => {
    const missing = await admin(pipeline.sink!, 'POST', '/admin/pause');
    assert.equal(missing.status, 401);
    assert.equal(missing.body.error.code, 'ADMIN_UNAUTHENTICATED');
    const wrong = await admin(pipeline.sink!, 'POST', '/admin/pause', 'not-a-valid-token-at-all');
    assert.equal(wrong.status, 403);
    assert.equal(wrong.body.error.code, 'ADMIN_FORBIDDEN');
    assert.equal(JSON.parse((await pipeline.sink!.http('/status')).body).paused, false, 'nothing was paused');
    const lines = auditLines(sinkAudit);
    assert.deepEqual(
      lines.map((l) => [l.who, l.action, l.outcome, l.status]),
      [
        [null, 'POST /admin/pause', 'unauthenticated', 401],
        [null, 'POST /admin/pause', 'forbidden', 403],
      ],
    );
    assert.ok(!readFileSync(sinkAudit, 'utf8').includes('not-a-valid-token'), 'a presented token is never written');
    const listed = await admin(pipeline.sink!, 'GET', '/admin/actions', CI_TOKEN);
    assert.equal(listed.status, 200);
    assert.ok(listed.body.result.some((a: { path: string }) => a.path === '/admin/offsets/reset'));
  });

  it('pauses and resumes the sink without leaving its group', async () => {
    const paused = await admin(pipeline.sink!, 'POST', '/admin/pause', OPS_TOKEN, { reason: 'index maintenance' });
    assert.equal(paused.status, 200);
    const ready = JSON.parse((await pipeline.sink!.http('/readyz')).body) as { ready: boolean; reasons: string[] };
    assert.equal(ready.ready, false);
    assert.ok(
      ready.reasons.some((r) => /paused: by ops: index maintenance/.test(r)),
      JSON.stringify(ready),
    );

    const indexed = (await dumpIndex(pipeline.indexOf('customers'))).size;
    await conn.query("INSERT INTO customers (id, name) VALUES (1001, 'while paused')");
    await waitFor('the source to commit the change', async () => (await readTopic(pipeline.topicOf('customers'))).some((r) => (r.decodedKey as { id?: bigint } | null)?.id === 1001n));
    const offsets = await admin(pipeline.sink!, 'GET', '/admin/offsets', OPS_TOKEN);
    assert.equal(offsets.body.result.group.members, 1, 'the paused sink is still a member of its group');
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await dumpIndex(pipeline.indexOf('customers'))).size, indexed, 'nothing is indexed while paused');

    assert.equal((await admin(pipeline.sink!, 'POST', '/admin/resume', OPS_TOKEN)).status, 200);
    await waitUntilEqual(conn, checks);
    assert.equal((await pipeline.sink!.http('/readyz')).status, 200);
  });

  it('pauses and resumes the source without losing its position', async () => {
    assert.equal((await admin(pipeline.source!, 'POST', '/admin/pause', OPS_TOKEN)).status, 200);
    const ready = JSON.parse((await pipeline.source!.http('/readyz')).body) as { ready: boolean; checks: { paused: string } };
    assert.equal(ready.ready, false);
    assert.equal(ready.checks.paused, 'by ops');
    const events = await metricValue(pipeline.source!, 'cdc_source_events_total', `table="${pipeline.database}.customers",op="c"`);
    await conn.query("INSERT INTO customers (id, name) VALUES (1002, 'source paused')");
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await metricValue(pipeline.source!, 'cdc_source_events_total', `table="${pipeline.database}.customers",op="c"`), events, 'no change is read while paused');
    assert.equal((await admin(pipeline.source!, 'POST', '/admin/resume', OPS_TOKEN)).status, 200);
    await waitUntilEqual(conn, checks);
    assert.equal((await pipeline.source!.http('/readyz')).status, 200);
  });

  it("resets the sink group's offsets (the sink leaves, resets, rejoins): the replay changes no document", async () => {
    const before = await dumpAll(checks);
    const dry = await admin(pipeline.sink!, 'POST', '/admin/offsets/reset', OPS_TOKEN, { to: 'earliest', dryRun: true });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.equal(dry.body.result.members, 1);
    assert.ok(dry.body.result.changes.every((c: { to: string }) => c.to === '0'));
    const processed = await metricValue(pipeline.sink!, 'cdc_sink_records_total', `topic="${pipeline.topicOf('customers')}"`);

    const reset = await admin(pipeline.sink!, 'POST', '/admin/offsets/reset', OPS_TOKEN, { to: 'earliest' });
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    const total = (await readTopic(pipeline.topicOf('customers'))).length;
    await waitFor(
      'the sink to replay the topic',
      async () => (await metricValue(pipeline.sink!, 'cdc_sink_records_total', `topic="${pipeline.topicOf('customers')}"`)) >= processed + total,
      120_000,
      500,
    );
    const after = await dumpAll(checks);
    for (const [index, docs] of before) assert.deepEqual(after.get(index), docs, `${index} changed after the replay`);

    const bad = await admin(pipeline.sink!, 'POST', '/admin/offsets/reset', OPS_TOKEN, { to: 'yesterday' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'ARGUMENT_INVALID');
    const restart = await admin(pipeline.sink!, 'POST', '/admin/restart', OPS_TOKEN);
    assert.equal(restart.status, 409);
    assert.equal(restart.body.error.code, 'ACTION_NOT_APPLICABLE');
  });

  it('has written every call to the audit logs with the token id', () => {
    const sink = auditLines(sinkAudit).filter((l) => l.who === 'ops');
    const done = sink.filter((l) => l.outcome !== 'started').map((l) => [l.action, l.outcome]);
    assert.deepEqual(done, [
      ['POST /admin/pause', 'ok'],
      ['GET /admin/offsets', 'ok'],
      ['POST /admin/resume', 'ok'],
      ['POST /admin/offsets/reset', 'ok'],
      ['POST /admin/offsets/reset', 'ok'],
      ['POST /admin/offsets/reset', 'failed'],
      ['POST /admin/restart', 'failed'],
    ]);
    assert.equal(sink.filter((l) => l.outcome === 'started').length, done.length, 'each allowed call is recorded before it runs');
    assert.deepEqual(sink.find((l) => l.outcome === 'ok' && l.params?.to === 'earliest' && l.params.dryRun === undefined)?.params, { to: 'earliest' });
    const source = auditLines(sourceAudit)
      .filter((l) => l.outcome !== 'started')
      .map((l) => [l.who, l.action, l.outcome]);
    assert.deepEqual(source, [
      ['ops', 'POST /admin/pause', 'ok'],
      ['ops', 'POST /admin/resume', 'ok'],
    ]);
    for (const file of [sinkAudit, sourceAudit]) assert.ok(!readFileSync(file, 'utf8').includes(OPS_TOKEN), 'tokens never reach the audit log');
  });
});

describe('admin API under a flood of unauthenticated calls', () => {
  const pipeline = new Pipeline(uniqueName('cdc_flood'));
  const dir = mkdtempSync(join(tmpdir(), 'cdc-audit-'));
  const audit = join(dir, 'sink.jsonl');
  const FLOOD = 10_000;

  before(async () => {
    await pipeline.startSink({ ADMIN_TOKENS: `ops:${OPS_TOKEN},ci:${CI_TOKEN}`, ADMIN_HOST: '127.0.0.1', ADMIN_PORT: '0', AUDIT_LOG_FILE: audit });
  });
  after(async () => {
    await pipeline.stopAll();
  });

  it('keeps metric series, audit log and memory bounded, and serves an authorised caller meanwhile', async () => {
    const sink = pipeline.sink!;
    const port = await waitFor('the admin port', () => sink.lines.find((l) => l.msg === 'admin API listening')?.port as number | undefined);
    assert.equal((await admin(sink, 'GET', '/admin/actions', CI_TOKEN)).status, 200);
    const heap = async () => Number((await sink.http('/metrics')).body.match(/^nodejs_heap_size_used_bytes (\d+)/m)![1]);
    const heapBefore = await heap();
    const refusalLines = () => auditLines(audit).filter((l) => l.who === null);
    const auditBefore = statSync(audit).size;

    let sent = 0;
    const statuses = new Map<number, number>();
    const authorised: number[] = [];
    const flooder = async () => {
      while (sent < FLOOD) {
        const n = ++sent;
        const path = `/${Math.random() < 0.5 ? 'admin/' : ''}${randomUUID()}?q=${randomUUID()}`;
        const method = Math.random() < 0.5 ? 'GET' : 'POST';
        const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, ...(Math.random() < 0.3 ? { headers: { authorization: `Bearer ${randomUUID()}` } } : {}) });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (n % 2000 === 0) authorised.push(await adminFrom('127.0.0.2', port, '/admin/actions', OPS_TOKEN));
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: 32 }, flooder));
    const seconds = (Date.now() - started) / 1000;

    assert.deepEqual(authorised, [200, 200, 200, 200, 200], 'the authorised calls during the flood were answered');
    assert.ok((statuses.get(429) ?? 0) > FLOOD * 0.9, `the flooding address is rate-limited: ${JSON.stringify([...statuses])}`);
    const admissions = await series(sink, 'cdc_admin_requests_total');
    assert.ok(admissions.length <= 8, `bounded metric series:\n${admissions.join('\n')}`);
    assert.ok(
      admissions.every((l) => /action="(unknown|GET \/admin\/actions)"/.test(l)),
      admissions.join('\n'),
    );
    const grown = statSync(audit).size - auditBefore;
    assert.ok(grown < 40_000, `the audit log grew by ${grown} bytes for ${FLOOD} refused calls`);
    // Summed entries arrive when their 10-second window ends (or at shutdown).
    await new Promise((r) => setTimeout(r, 11_000));
    // Per 10-second window and kind of refusal (unauthenticated, forbidden, rate_limited): one line at once, one sum.
    const lines = refusalLines().length;
    const bound = 3 * 2 * (Math.ceil(seconds / 10) + 2);
    assert.ok(lines <= bound, `${lines} audit lines for ${FLOOD} refused calls in ${seconds} s (bound ${bound})`);
    const counted = refusalLines().reduce((n, l) => n + (l.count ?? 1), 0);
    assert.equal(counted, FLOOD, 'every refused call is counted in the audit log');
    const heapAfter = await heap();
    assert.ok(heapAfter - heapBefore < 32 * 1024 * 1024, `heap grew from ${heapBefore} to ${heapAfter} bytes`);
    process.stderr.write(
      `flood: ${FLOOD} calls in ${seconds.toFixed(1)} s, statuses ${JSON.stringify([...statuses])}, audit +${grown} bytes before the last window's summary, ${lines} lines in all, heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB\n`,
    );
  });
});
