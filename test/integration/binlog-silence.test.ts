import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopic } from '../helpers/kafka.ts';
import { rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { parseMetrics } from '../helpers/prometheus.ts';
import { uniqueName, type ServiceProcess } from '../helpers/services.ts';
import { signalMariadb } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const STALL = 4;

interface ReadyBody {
  ready: boolean;
  state: string;
  reasons: string[];
  checks: { secondsSinceBinlogEvent: number | null };
}

async function readyz(source: ServiceProcess): Promise<{ status: number; body: ReadyBody }> {
  const answer = await source.http('/readyz');
  return { status: answer.status, body: JSON.parse(answer.body) as ReadyBody };
}

async function silenceMetric(source: ServiceProcess): Promise<number> {
  return Number(parseMetrics((await source.http('/metrics')).body).get('cdc_source_binlog_silence_seconds')!.metrics[0]!.value);
}

async function binlogEnd(conn: mysql.Connection): Promise<string> {
  const [status] = await rows(conn, 'SHOW MASTER STATUS');
  return `${String(status!.File)}:${String(status!.Position)}`;
}

/**
 * The source's /readyz against a binlog connection that goes silent without closing: server
 * heartbeats keep an idle stream ready, a stopped MariaDB server (SIGSTOP) makes it unready with
 * the silence as reason, and it recovers when the server continues.
 */
describe('Source readiness follows the binlog connection', () => {
  const pipeline = new Pipeline(uniqueName('cdc_silence'));
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase('CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40))');
    await pipeline.startSource({ READY_STALL_SECONDS: String(STALL) });
    await conn.query("INSERT INTO items VALUES (1, 'before')");
    await waitFor('the first row in Kafka', async () => (await readTopic(pipeline.topicOf('items'))).length === 1, 60_000, 1000);
  });
  after(async () => {
    signalMariadb('SIGCONT'); // harmless when it runs; a failed test must not leave the server stopped
    await pipeline.stopAll();
    await conn?.end();
  });

  it('stays ready across an idle period longer than READY_STALL_SECONDS, on server heartbeats alone', async () => {
    const source = pipeline.source!;
    const end = await binlogEnd(conn);
    const until = Date.now() + 4 * STALL * 1000;
    while (Date.now() < until) {
      const { status, body } = await readyz(source);
      assert.equal(status, 200, JSON.stringify(body));
      assert.ok(body.checks.secondsSinceBinlogEvent! <= STALL, JSON.stringify(body));
      await sleep(500);
    }
    assert.ok((await silenceMetric(source)) <= STALL);
    assert.equal(await binlogEnd(conn), end, 'nothing was written to the binlog meanwhile: only heartbeats arrived');
  });

  it('turns unready, saying the connection is silent, while the server hangs, then reconnects; ready again and streaming once it continues', async () => {
    const source = pipeline.source!;
    signalMariadb('SIGSTOP');
    try {
      const unready = await waitFor(
        'the source to report a silent binlog connection',
        async () => {
          const { status, body } = await readyz(source);
          const silence = await silenceMetric(source);
          return status === 503 && body.state === 'streaming' && body.reasons.some((r) => /binlog connection has been silent/.test(r)) ? { body, silence } : undefined;
        },
        60_000,
        250,
      );
      assert.equal(unready.body.ready, false, 'the connection is open: only its silence shows the problem');
      assert.match(unready.body.reasons.join('\n'), /READY_STALL_SECONDS=4/);
      assert.ok(unready.silence > STALL);
      // An open socket to a hung server never fails by itself: after twice the bound the source gives it up.
      await waitFor('the source to reconnect', async () => /cdc_source_restarts_total\{code="SOURCE_UNREACHABLE"\} [1-9]/.test((await source.http('/metrics')).body), 60_000, 500);
      assert.ok(
        source.lines.some((l) => /binlog connection has been silent .*reconnecting/.test(String((l.err as { message?: string } | undefined)?.message))),
        'the reconnect says why',
      );
    } finally {
      signalMariadb('SIGCONT');
    }
    await waitFor('the source to be ready again', async () => (await readyz(source)).status === 200, 60_000, 500);
    await conn.query("INSERT INTO items VALUES (2, 'after')");
    const records = await waitFor(
      'the row written after the silence in Kafka',
      async () => {
        const all = await readTopic(pipeline.topicOf('items'));
        return all.length === 2 ? all : undefined;
      },
      60_000,
      1000,
    );
    assert.deepEqual(
      records.map((r) => (r.decodedValue!.after as { name: string }).name),
      ['before', 'after'],
    );
  });
});
