import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { createLogger } from '../../src/core/logger.ts';
import { RetryLog } from '../../src/core/retry.ts';

function capturingLogger() {
  const lines: Array<{ level: string; code?: string; msg: string; err?: { code?: string } }> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger('info', 'test', destination as never), lines };
}

describe('retried failures in the log', () => {
  const outage = new CdcError('KAFKA_UNAVAILABLE', 'Kafka committing failed: Connection error: connect ECONNREFUSED', { retriable: true });

  it('logs a retriable error within the bound at warn, with the coded error, and past the bound at error until the work succeeds', async () => {
    let now = 1_000_000;
    const { log, lines } = capturingLogger();
    const retries = new RetryLog(60_000, () => now);
    retries.failed(log, outage, { retryInMs: 200 }, 'pipeline failed; restarting');
    now += 59_000;
    retries.failed(log, outage, { retryInMs: 400 }, 'pipeline failed; restarting');
    now += 1_000;
    retries.failed(log, outage, { retryInMs: 800 }, 'pipeline failed; restarting');
    retries.succeeded();
    now += 1_000;
    retries.failed(log, outage, { retryInMs: 200 }, 'pipeline failed; restarting');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      lines.map((l) => l.level),
      ['warn', 'warn', 'error', 'warn'],
    );
    assert.ok(
      lines.every((l) => JSON.stringify(l).includes('"KAFKA_UNAVAILABLE"')),
      'every line carries the service code',
    );
    assert.match(lines[2]!.msg, /failing for longer than READY_STALL_SECONDS/);
  });
});
