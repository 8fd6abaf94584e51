import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopic } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { runCli, startService, uniqueName, type ServiceProcess } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { recordSecret } from '../helpers/capture.ts';

const SECRET = recordSecret('hunter2-must-never-be-printed');

describe('bad configuration', () => {
  it('lists every missing variable of the source and exits 2', async () => {
    const result = await runCli(['source'], {});
    assert.equal(result.status, 2);
    assert.match(result.stderr, /CONFIG_INVALID/);
    for (const name of ['SOURCE_ID', 'MYSQL_HOST', 'MYSQL_USER', 'KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL']) assert.match(result.stderr, new RegExp(`${name}: is required`));
  });

  it('lists every malformed variable of the sink, hides secrets and exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdc-cfg-'));
    try {
      writeFileSync(join(dir, 'pw'), `${SECRET}\n`);
      const result = await runCli(['sink'], {
        KAFKA_BROKERS: 'localhost:9092',
        SCHEMA_REGISTRY_URL: 'not a url',
        ELASTICSEARCH_URL: 'http://localhost:9200',
        ELASTICSEARCH_PASSWORD: SECRET,
        ELASTICSEARCH_PASSWORD_FILE: join(dir, 'pw'),
        HTTP_PORT: '99999',
        BULK_MAX_ACTIONS: 'many',
        SINK_TOPICS: 'ok,(unclosed',
      });
      assert.equal(result.status, 2);
      for (const expected of [
        /SCHEMA_REGISTRY_URL: must be an http\(s\) URL/,
        /HTTP_PORT: /,
        /BULK_MAX_ACTIONS: must be a whole number/,
        /SINK_TOPICS: .*not a valid regular expression/,
        /ELASTICSEARCH_PASSWORD: set either/,
      ]) {
        assert.match(result.stderr, expected);
      }
      assert.match(result.stderr, /5 problems/);
      assert.ok(!result.stderr.includes(SECRET) && !result.stdout.includes(SECRET), 'the secret is never printed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a secret from X_FILE and reports an unreadable one', async () => {
    const result = await runCli(['check-source'], {
      SOURCE_ID: 's',
      MYSQL_HOST: '127.0.0.1',
      MYSQL_USER: 'cdc',
      MYSQL_PASSWORD_FILE: '/nonexistent/secret',
      KAFKA_BROKERS: 'localhost:9092',
      SCHEMA_REGISTRY_URL: 'http://localhost:8081',
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /MYSQL_PASSWORD_FILE: cannot read \/nonexistent\/secret \(ENOENT\)/);
  });
});

describe('an unusable source server', () => {
  let conn: mysql.Connection;
  before(async () => {
    conn = await rootConnection();
  });
  after(async () => {
    await conn.query("SET GLOBAL binlog_row_image = 'FULL'; SET GLOBAL binlog_format = 'ROW'");
    await conn.end();
  });

  it('gives SOURCE_PRECONDITION_FAILED naming each setting and its fix, exit 2', async () => {
    const stack = stackEnv();
    const env = {
      SOURCE_ID: 'pre',
      MYSQL_HOST: stack.MYSQL_HOST,
      MYSQL_PORT: stack.MYSQL_PORT,
      MYSQL_USER: stack.MYSQL_USER,
      MYSQL_PASSWORD: stack.MYSQL_PASSWORD,
      KAFKA_BROKERS: stack.KAFKA_BROKERS,
      SCHEMA_REGISTRY_URL: stack.SCHEMA_REGISTRY_URL,
    };
    return (async () => {
      await conn.query("SET GLOBAL binlog_row_image = 'MINIMAL'; SET GLOBAL binlog_format = 'STATEMENT'");
      const result = await runCli(['check-source'], env);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, /SOURCE_PRECONDITION_FAILED/);
      assert.match(result.stderr, /binlog_row_image is MINIMAL, needs FULL: SET GLOBAL binlog_row_image = 'FULL'/);
      assert.match(result.stderr, /binlog_format is STATEMENT, needs ROW: SET GLOBAL binlog_format = 'ROW'/);
      await conn.query("SET GLOBAL binlog_row_image = 'FULL'; SET GLOBAL binlog_format = 'ROW'");
      await conn.query("DROP USER IF EXISTS 'cdc_weak'@'127.0.0.1'; CREATE USER 'cdc_weak'@'127.0.0.1' IDENTIFIED BY 'weak-pass'; GRANT SELECT ON *.* TO 'cdc_weak'@'127.0.0.1'");
      const weak = await runCli(['check-source'], { ...env, MYSQL_USER: 'cdc_weak', MYSQL_PASSWORD: 'weak-pass' });
      assert.equal(weak.status, 2, weak.stderr);
      assert.match(weak.stderr, /user cdc_weak lacks REPLICATION SLAVE .*GRANT REPLICATION SLAVE ON \*\.\* TO 'cdc_weak'/);
      assert.match(weak.stderr, /lacks REPLICATION CLIENT \/ BINLOG MONITOR/);
      assert.ok(!weak.stderr.includes('weak-pass'), 'no password in the message');
      const ok = await runCli(['check-source'], env);
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /"connector": "mariadb"/);
    })();
  });
});

describe('unreachable services give coded, retried errors', () => {
  const pipeline = new Pipeline(uniqueName('cdc_bad'));
  const started: ServiceProcess[] = [];
  let conn: mysql.Connection;

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))');
  });
  after(async () => {
    await Promise.all(started.map((s) => s.stop('SIGKILL')));
    await conn.end();
  });

  async function expectRetriedError(service: ServiceProcess, code: string): Promise<void> {
    started.push(service);
    await waitFor(`a ${code} log line`, () => service.lines.find((l) => (l.err as { code?: string } | undefined)?.code === code && typeof l.retryInMs === 'number'), 90_000);
    assert.equal(service.child.exitCode, null, 'the service keeps running and retrying');
  }

  it('registry down: REGISTRY_UNAVAILABLE, retried', async () => {
    const source = startService('source', pipeline.sourceEnv({ SCHEMA_REGISTRY_URL: 'http://127.0.0.1:9/apis/ccompat/v7', SOURCE_ID: uniqueName('noreg') }));
    await waitFor('source streaming', async () => (await source.http('/readyz').catch(() => ({ status: 0 }))).status === 200, 60_000);
    await conn.query("INSERT INTO t VALUES (1, 'a')");
    await expectRetriedError(source, 'REGISTRY_UNAVAILABLE');
  });

  it('Kafka down: KAFKA_UNAVAILABLE, retried', async () => {
    await expectRetriedError(startService('source', pipeline.sourceEnv({ KAFKA_BROKERS: '127.0.0.1:9', SOURCE_ID: uniqueName('nokafka') })), 'KAFKA_UNAVAILABLE');
  });

  it('Elasticsearch down: ELASTICSEARCH_UNAVAILABLE, retried', async () => {
    await pipeline.startSource();
    started.push(pipeline.source!);
    await conn.query("INSERT INTO t VALUES (2, 'b')");
    await waitFor('the change topic', async () => (await readTopic(pipeline.topicOf('t'))).length > 0, 60_000, 500);
    await expectRetriedError(startService('sink', pipeline.sinkEnv({ ELASTICSEARCH_URL: 'http://127.0.0.1:9', ELASTICSEARCH_SSL_CA_FILE: '' })), 'ELASTICSEARCH_UNAVAILABLE');
  });
});
