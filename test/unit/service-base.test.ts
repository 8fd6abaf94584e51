import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { CdcError } from '../../src/core/errors.ts';
import type { Readiness } from '../../src/core/probe.ts';
import { type RestartPolicy, ServiceBase } from '../../src/core/service-base.ts';
import { VERSION } from '../../src/version.ts';

/** A service whose pipeline runs the given attempts in turn (each throws or returns). */
class Demo extends ServiceBase<'running'> {
  readonly restarts: string[] = [];
  teardowns = 0;
  attempts = 0;
  readonly #attempts: Array<(demo: Demo) => Promise<void>>;
  readonly #hold: RestartPolicy['hold'];

  constructor(attempts: Array<(demo: Demo) => Promise<void>>, hold?: RestartPolicy['hold']) {
    super('demo');
    this.#attempts = attempts;
    this.#hold = hold;
  }

  run(): Promise<void> {
    return this.restartOnFailure(
      async () => {
        const attempt = this.#attempts[this.attempts++]!;
        this.state = 'running';
        await attempt(this);
      },
      {
        classify: (error) => (error instanceof CdcError ? error : new CdcError('INTERNAL', String(error))),
        teardown: async () => {
          this.teardowns++;
        },
        restarts: { inc: ({ code }) => this.restarts.push(code) },
        log: pino({ level: 'silent' }),
        restarting: 'demo failed; restarting',
        hold: this.#hold,
      },
    );
  }

  ready(): Readiness {
    return this.readinessOf(['running'], [this.attempts > 5 && 'too many attempts'], { attempts: this.attempts });
  }

  status(): unknown {
    return this.statusOf({ attempts: this.attempts }, { SECRET: '[redacted]' });
  }

  get current(): string {
    return this.state;
  }
}

const unavailable = () => new CdcError('KAFKA_UNAVAILABLE', 'broker down', { retriable: true, cause: new Error('ECONNREFUSED 10.0.0.1:9092') });
const fatal = () => new CdcError('SOURCE_POSITION_PURGED', 'binlog gone', { hint: 'Re-snapshot.', details: { file: 'binlog.000001' } });

describe('service base', () => {
  it('starts healthy and unready, saying it is starting', () => {
    const demo = new Demo([]);
    assert.equal(demo.healthy(), true);
    const ready = demo.ready();
    assert.equal(ready.ready, false);
    assert.equal(ready.state, 'starting');
    assert.deepEqual(ready.reasons, ['the demo is starting']);
    assert.deepEqual(ready.checks, { attempts: 0 });
  });

  it('restarts a retriable failure after a backoff, counting it by code, and tears down after every attempt', async () => {
    const demo = new Demo([
      async () => {
        throw unavailable();
      },
      async () => {
        throw unavailable();
      },
      async (d) => {
        assert.equal(d.ready().ready, true, 'ready while running, although the last error is remembered');
      },
    ]);
    await demo.run();
    assert.equal(demo.attempts, 3);
    assert.deepEqual(demo.restarts, ['KAFKA_UNAVAILABLE', 'KAFKA_UNAVAILABLE']);
    assert.equal(demo.teardowns, 3);
    assert.equal(demo.healthy(), true);
  });

  it('fails on a fatal error: thrown, unhealthy, and readiness and status say why (without the cause)', async () => {
    const demo = new Demo([
      async () => {
        throw fatal();
      },
    ]);
    await assert.rejects(demo.run(), (error: CdcError) => error.code === 'SOURCE_POSITION_PURGED');
    assert.equal(demo.healthy(), false);
    assert.equal(demo.current, 'failed');
    assert.deepEqual(demo.restarts, []);
    assert.deepEqual(demo.ready().reasons, ['SOURCE_POSITION_PURGED: binlog gone — Re-snapshot.']);
    assert.deepEqual(demo.status(), {
      service: 'demo',
      version: VERSION,
      state: 'failed',
      attempts: 1,
      lastError: { code: 'SOURCE_POSITION_PURGED', message: 'binlog gone', hint: 'Re-snapshot.', details: { file: 'binlog.000001' } },
      config: { SECRET: '[redacted]' },
    });
  });

  it('wraps what is not coded through the classifier, never as retriable', async () => {
    const demo = new Demo([
      async () => {
        throw new TypeError('x is not a function');
      },
    ]);
    await assert.rejects(demo.run(), (error: CdcError) => error.code === 'INTERNAL' && !error.retriable);
  });

  it('holds a fatal error the hold accepts, torn down, and runs again when it ends', async () => {
    const held: string[] = [];
    const demo = new Demo(
      [
        async () => {
          throw new CdcError('SCHEMA_INCOMPATIBLE', 'refused');
        },
        async () => undefined,
      ],
      async (error) => {
        held.push(error.code);
        return true;
      },
    );
    await demo.run();
    assert.deepEqual(held, ['SCHEMA_INCOMPATIBLE']);
    assert.equal(demo.attempts, 2);
    assert.ok(demo.teardowns >= 2);
  });

  it('stops during the backoff without throwing, in state stopped', async () => {
    const demo = new Demo([
      async (d) => {
        setTimeout(() => void d.stop(), 20);
        throw unavailable();
      },
    ]);
    await demo.run();
    assert.equal(demo.current, 'stopped');
    assert.equal(demo.attempts, 1);
    assert.equal(demo.healthy(), true);
  });
});
