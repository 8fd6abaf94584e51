import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { startRegistryTlsProxy, type RegistryProxy } from '../faults/registry-tls-proxy.ts';
import { capture, captureDir, recordSecret } from '../helpers/capture.ts';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { dumpIndex } from '../helpers/elasticsearch.ts';
import { readTopic, testKafka } from '../helpers/kafka.ts';
import { Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { checkSource, kafkaSecurityEnv } from '../helpers/security.ts';
import { startService, uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

// Named `zz-…` so that it runs last: node --test runs the files of a glob in sorted order, and this
// suite searches what every earlier suite of the same run captured (test/helpers/capture.ts).

/** Every secret of the run, by a name that may be printed (the values must not be). */
function secretsOfRun(dir: string): Map<string, string> {
  const env = stackEnv();
  const secrets = new Map<string, string>([
    ['MYSQL_PASSWORD', env.MYSQL_PASSWORD],
    ['MYSQL_ROOT_PASSWORD', env.MYSQL_ROOT_PASSWORD],
    ['CDC_MYSQL_TLS_PASSWORD', env.CDC_MYSQL_TLS_PASSWORD],
    ['CDC_KAFKA_PLAIN_PASSWORD', env.CDC_KAFKA_PLAIN_PASSWORD],
    ['CDC_KAFKA_SCRAM_PASSWORD', env.CDC_KAFKA_SCRAM_PASSWORD],
    ['ELASTICSEARCH_PASSWORD', env.ELASTICSEARCH_PASSWORD],
    // A leaked Authorization header carries user:password in base64.
    ['ELASTICSEARCH basic credentials', Buffer.from(`${env.ELASTICSEARCH_USERNAME}:${env.ELASTICSEARCH_PASSWORD}`).toString('base64')],
  ]);
  let recorded: string[] = [];
  try {
    recorded = readFileSync(join(dir, 'secrets.list'), 'utf8').split('\n').filter(Boolean);
  } catch {
    // no suite recorded secrets of its own
  }
  recorded.forEach((value, i) => {
    secrets.set(`secret #${i + 1} recorded by a suite`, value);
  });
  return secrets;
}

interface Hit {
  file: string;
  line: number;
  secret: string;
}

/** Every captured line (service output, CLI output, HTTP answers) that contains a secret. */
function findSecrets(dir: string, secrets: Map<string, string>): { hits: Hit[]; lines: number } {
  const hits: Hit[] = [];
  let lines = 0;
  for (const file of readdirSync(dir)) {
    if (file === 'secrets.list') continue;
    readFileSync(join(dir, file), 'utf8')
      .split('\n')
      .forEach((text, i) => {
        lines++;
        for (const [name, value] of secrets) if (value && text.includes(value)) hits.push({ file, line: i + 1, secret: name });
      });
  }
  return { hits, lines };
}

/**
 * A hashed key column (COLUMN_HASH): its raw values are recorded as secrets of the run, so the
 * scan below searches every captured log line and HTTP answer (admin API answers included) for
 * them; this suite also reads every Kafka record of the pipeline. Snapshot progress must store the
 * last key read, so the offsets topic holds it sealed (AES-256-GCM under a key derived from
 * COLUMN_HASH_SALT): the raw values appear nowhere.
 */
describe('raw values of a hashed key column appear in no log line, HTTP answer or Kafka record', () => {
  const pipeline = new Pipeline(uniqueName('cdc_hashkey'));
  const adminToken = recordSecret(`admin-${uniqueName('token')}-0123456789`);
  const rawKey = (i: number) => `rawkey-${i}-${randomUUID()}`;
  const keys = Array.from({ length: 300 }, (_, i) => recordSecret(rawKey(i)));
  const sourceEnv = {
    SNAPSHOT_MODE: 'initial',
    SNAPSHOT_CHUNK_ROWS: '10',
    INCREMENTAL_CHUNK_ROWS: '10',
    SIGNAL_TABLE: `${pipeline.database}.cdc_signal`,
    COLUMN_HASH: `${pipeline.database}\\.members\\.email`,
    COLUMN_HASH_SALT: recordSecret(`salt-${randomUUID()}`),
    ADMIN_TOKENS: `ops:${adminToken}`,
    ADMIN_HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    LOG_LEVEL: 'debug',
  };
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(`
      CREATE TABLE members (email VARCHAR(80) PRIMARY KEY, name VARCHAR(40));
      CREATE TABLE cdc_signal (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT);`);
    const { MYSQL_USER } = stackEnv();
    for (const host of ['127.0.0.1', 'localhost']) await conn.query(`GRANT INSERT, DELETE ON \`${pipeline.database}\`.cdc_signal TO '${MYSQL_USER}'@'${host}'`);
    for (const key of keys) await conn.query('INSERT INTO members VALUES (?, ?)', [key, 'member']);
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('snapshots, streams and incrementally snapshots the table while /status, /metrics and the admin API are read', async () => {
    await pipeline.startSource(sourceEnv);
    const source = pipeline.source!;
    const adminPort = await waitFor('the admin port', () => source.lines.find((l) => l.msg === 'admin API listening')?.port as number | undefined);
    const admin = async (method: string, path: string, body?: unknown, token = adminToken) => {
      const response = await fetch(`http://127.0.0.1:${adminPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      capture('http-answers.log', `source ${method} ${path} ${response.status}\n${text}`);
      return { status: response.status, text };
    };
    await waitFor('the initial snapshot', async () => (await readTopic(pipeline.topicOf('members'))).length === keys.length, 120_000, 1000);
    await conn.query("UPDATE members SET name = 'renamed' WHERE email = ?", [keys[0]]);
    await conn.query('DELETE FROM members WHERE email = ?', [keys[1]]);

    assert.equal((await admin('GET', '/admin/actions')).status, 200);
    assert.equal((await admin('POST', '/admin/pause', undefined, `${adminToken}-wrong`)).status, 403);
    const requested = await admin('POST', '/admin/snapshot', { tables: [`${pipeline.database}.members`] });
    assert.equal(requested.status, 200, requested.text);
    // /status while the incremental snapshot reads its chunks (its progress holds the raw keys).
    const progressShown = async () => {
      const status = JSON.parse((await pipeline.source!.http('/status')).body) as { incrementalSnapshot: { current?: unknown } | null };
      return status.incrementalSnapshot;
    };
    let withProgress = 0;
    // Three chunks read: the committed progress holds a current table with its keys.
    await waitFor('the incremental snapshot to read chunks', async () => (((await progressShown())?.current as { rows?: number } | undefined)?.rows ?? 0) >= 30, 60_000, 20);
    withProgress++;
    // Killed mid-snapshot, the source resumes from its sealed progress (and logs where it resumes).
    await pipeline.source!.stop('SIGKILL');
    await pipeline.startSource(sourceEnv);
    await waitFor(
      'the resumed incremental snapshot to finish',
      async () => {
        const shown = await progressShown();
        if (shown?.current) withProgress++;
        return shown === null;
      },
      120_000,
      20,
    );
    assert.ok(
      pipeline.source!.lines.some((l) => l.msg === 'incremental snapshot resumed' && l.current),
      'the source resumed the incremental snapshot inside its table',
    );
    await waitFor('the incremental snapshot records', async () => (await readTopic(pipeline.topicOf('members'))).length >= 2 * keys.length, 60_000, 1000);
    // A sink whose Elasticsearch URL carries the credentials: its logs and /status must not show them.
    const { ELASTICSEARCH_URL, ELASTICSEARCH_USERNAME, ELASTICSEARCH_PASSWORD } = stackEnv();
    const withCredentials = ELASTICSEARCH_URL.replace('://', `://${ELASTICSEARCH_USERNAME}:${ELASTICSEARCH_PASSWORD}@`);
    await pipeline.startSink({ ELASTICSEARCH_URL: withCredentials, ELASTICSEARCH_USERNAME: '', ELASTICSEARCH_PASSWORD: '' });
    await waitFor('the sink to index the members', async () => (await dumpIndex(pipeline.indexOf('members')).catch(() => new Map())).size === keys.length - 1, 120_000, 1000);
    assert.match((await pipeline.sink!.http('/status')).body, /"ELASTICSEARCH_URL": "https:\/\/\[redacted\]@/);
    assert.ok(withProgress > 0, '/status was read while the incremental snapshot had a current table');
    for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal((await pipeline.source!.http(path)).status, 200);
  });

  it('finds none of the raw key values in any Kafka record of the pipeline, and sealed progress in the offsets topic', async () => {
    const kafka = testKafka();
    const admin = kafka.admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${pipeline.prefix}.`));
    await admin.disconnect();
    assert.ok(topics.includes(`${pipeline.prefix}.offsets`) && topics.includes(pipeline.topicOf('members')), topics.join(', '));
    const hits: string[] = [];
    let records = 0;
    let sealed = 0;
    for (const topic of topics) {
      await readTopicToEnd(kafka, topic, (message) => {
        records++;
        const bytes = [message.key, message.value, ...Object.values(message.headers ?? {}).flat()].filter((b): b is Buffer => Buffer.isBuffer(b)).map((b) => b.toString('latin1'));
        if (topic.endsWith('.offsets') && bytes.some((b) => b.includes('sealed:aes-256-gcm:'))) sealed++;
        for (const key of keys) if (bytes.some((b) => b.includes(key))) hits.push(`${topic}@${message.offset}: ${key.slice(0, 12)}…`);
      });
    }
    assert.ok(records > 2 * keys.length, `${records} records read`);
    assert.deepEqual(hits.slice(0, 10), [], `${hits.length} records hold raw key values`);
    assert.ok(sealed > 10, `${sealed} offsets records hold sealed snapshot progress`);
  });
});

describe('secrets never appear in logs, errors or HTTP answers of the whole test run', () => {
  const pipeline = new Pipeline(uniqueName('cdc_leak'));
  const registryPassword = recordSecret(`leak-registry-${uniqueName('pw')}`);
  let proxy: RegistryProxy;
  let conn: mysql.Connection;
  let secretFiles: string;

  before(async () => {
    // Old runs' captures go; this run's stay for inspection.
    const runs = dirname(captureDir());
    for (const run of readdirSync(runs)) {
      const path = join(runs, run);
      if (path !== captureDir() && Date.now() - statSync(path).mtimeMs > 2 * 86_400_000) rmSync(path, { recursive: true, force: true });
    }
    const env = stackEnv();
    proxy = await startRegistryTlsProxy({ username: 'leak-check', password: registryPassword });
    // Secrets as files, the way Docker/Kubernetes secrets and Vault agents deliver them.
    secretFiles = mkdtempSync(join(tmpdir(), 'cdc-secrets-'));
    writeFileSync(join(secretFiles, 'mysql'), `${env.CDC_MYSQL_TLS_PASSWORD}\n`);
    writeFileSync(join(secretFiles, 'kafka'), `${env.CDC_KAFKA_SCRAM_PASSWORD}\n`);
    writeFileSync(join(secretFiles, 'registry'), registryPassword);
    const registry = {
      SCHEMA_REGISTRY_URL: proxy.url,
      SCHEMA_REGISTRY_USERNAME: 'leak-check',
      SCHEMA_REGISTRY_PASSWORD_FILE: join(secretFiles, 'registry'),
      SCHEMA_REGISTRY_SSL_CA_FILE: env.CDC_TLS_CA_FILE,
    };
    const { KAFKA_SASL_PASSWORD: _inline, ...kafka } = kafkaSecurityEnv('SASL_SSL', 'SCRAM-SHA-512');
    conn = await pipeline.createDatabase(DDL);
    await runWorkload(conn, 1, 20);
    await pipeline.startSource({
      ...registry,
      ...kafka,
      KAFKA_SASL_PASSWORD_FILE: join(secretFiles, 'kafka'),
      MYSQL_USER: env.CDC_MYSQL_TLS_USER,
      MYSQL_PASSWORD: '',
      MYSQL_PASSWORD_FILE: join(secretFiles, 'mysql'),
      MYSQL_SSL_MODE: 'verify_identity',
      MYSQL_SSL_CA_FILE: env.CDC_TLS_CA_FILE,
      SNAPSHOT_MODE: 'initial',
      LOG_LEVEL: 'debug',
    });
    await pipeline.startSink({ ...registry, ...kafkaSecurityEnv('SASL_PLAINTEXT', 'PLAIN'), LOG_LEVEL: 'debug' });
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
    await proxy?.close();
    if (secretFiles) rmSync(secretFiles, { recursive: true, force: true });
  });

  it('finds a secret planted in a captured line (the search works)', () => {
    const planted = `planted-${uniqueName('secret')}`;
    capture('selfcheck.log', `{"level":"info","msg":"connecting with ${planted}"}`);
    try {
      const { hits } = findSecrets(captureDir(), new Map([['planted', planted]]));
      assert.deepEqual(hits, [{ file: 'selfcheck.log', line: 1, secret: 'planted' }]);
    } finally {
      rmSync(join(captureDir(), 'selfcheck.log'));
    }
    // And the services' own output is among what is searched: the sink logs its (non-secret) user name.
    const user = findSecrets(captureDir(), new Map([['ELASTICSEARCH_USERNAME', stackEnv().ELASTICSEARCH_USERNAME]]));
    assert.ok(
      user.hits.some((h) => h.file.startsWith('sink-')),
      "the sink's captured log lines are searched",
    );
  });

  it('runs a fully secured pipeline, reads every HTTP endpoint, and provokes credential errors', async () => {
    await runWorkload(conn, 1000, 20);
    await waitUntilEqual(
      conn,
      demoChecks((t) => pipeline.indexOf(t)),
    );
    for (const service of [pipeline.source!, pipeline.sink!]) {
      for (const path of ['/healthz', '/readyz', '/status', '/metrics']) assert.equal((await service.http(path)).status, 200, path);
    }
    const wrong = recordSecret(`wrong-${uniqueName('pw')}`);
    const check = await checkSource({ MYSQL_PASSWORD: wrong });
    assert.match(check.stderr, /AUTH_FAILED/);
    const sink = startService('sink', { TOPIC_PREFIX: uniqueName('t'), ...kafkaSecurityEnv('SASL_SSL', 'PLAIN'), KAFKA_SASL_PASSWORD: wrong, ELASTICSEARCH_PASSWORD: wrong });
    assert.notEqual(await sink.exited, 0);
  });

  it('finds none of them in any captured service line, CLI output or HTTP answer of this run', () => {
    const secrets = secretsOfRun(captureDir());
    const { hits, lines } = findSecrets(captureDir(), secrets);
    assert.ok(lines > 200, `only ${lines} captured lines in ${captureDir()}: is the capture working?`);
    assert.deepEqual(
      hits.slice(0, 20).map((h) => `${h.file}:${h.line} contains ${h.secret}`),
      [],
      `${hits.length} captured lines contain secrets (in ${captureDir()})`,
    );
  });
});
