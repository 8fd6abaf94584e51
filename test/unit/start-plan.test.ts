import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { SourcePosition } from '../../src/core/position.ts';
import { planStart, type StartFacts } from '../../src/source/start-plan.ts';

const position = new SourcePosition('binlog.000002', 4);
const snapshot = { tables: ['db.t'], done: [], streamFrom: position.toJSON() } as never;
const incremental = { tables: ['db.t'], done: [], startedAt: 0 };
const purged = new CdcError('SOURCE_POSITION_PURGED', 'purged');
const unreachable = new CdcError('SOURCE_UNREACHABLE', 'down', { retriable: true });

type Row = [
  name: string,
  stored: 'none' | 'position' | 'snapshot' | 'incremental',
  retention: 'ok' | 'purged' | 'unreachable',
  connector: 'mariadb' | 'mysql',
  config: Partial<StartFacts['config']>,
  expected: string,
];

/** Each row: the facts, then the plan as `fail CODE` or `snapshot?/resume?/incremental?/stop? → streamFrom`. */
const table: Row[] = [
  ['first start: read-view snapshot, then stream from it', 'none', 'ok', 'mariadb', {}, 'snapshot → snapshot'],
  ['first start, never: from the end of the binlog', 'none', 'ok', 'mariadb', { SNAPSHOT_MODE: 'never' }, '→ binlog-end'],
  ['first start, never, earliest', 'none', 'ok', 'mariadb', { SNAPSHOT_MODE: 'never', START_POSITION: 'earliest' }, '→ oldest'],
  ['restart: the stored position', 'position', 'ok', 'mariadb', {}, '→ stored'],
  ['restart during a snapshot: resume it', 'snapshot', 'ok', 'mariadb', {}, 'snapshot resume → snapshot'],
  ['restart during an incremental snapshot: continue it', 'incremental', 'ok', 'mariadb', {}, 'resume-incremental → stored'],
  ['initial_only: snapshot, then stop', 'none', 'ok', 'mariadb', { SNAPSHOT_MODE: 'initial_only' }, 'snapshot stop → snapshot'],
  ['initial_only after it finished: stop at once', 'position', 'ok', 'mariadb', { SNAPSHOT_MODE: 'initial_only' }, 'stop → stored'],
  ['purged: fail', 'position', 'purged', 'mariadb', {}, 'fail SOURCE_POSITION_PURGED'],
  ['purged, when_needed: a new snapshot', 'position', 'purged', 'mariadb', { SNAPSHOT_MODE: 'when_needed' }, 'lost snapshot → snapshot'],
  ['purged during a snapshot: start it again', 'snapshot', 'purged', 'mariadb', {}, 'lost snapshot → snapshot'],
  ['purged, resnapshot: incremental from the binlog end', 'position', 'purged', 'mariadb', { ON_POSITION_LOST: 'resnapshot', SIGNAL_TABLE: 'db.signal' }, 'lost incremental → binlog-end'],
  ['server unreachable: fail (retriable)', 'position', 'unreachable', 'mariadb', { SNAPSHOT_MODE: 'when_needed' }, 'fail SOURCE_UNREACHABLE'],
  ['MySQL first start: incremental snapshot', 'none', 'ok', 'mysql', { SIGNAL_TABLE: 'db.signal' }, 'incremental → binlog-end'],
  ['MySQL first start without a signal table: fail', 'none', 'ok', 'mysql', {}, 'fail SOURCE_PRECONDITION_FAILED'],
  ['MySQL initial_only: fail', 'none', 'ok', 'mysql', { SIGNAL_TABLE: 'db.signal', SNAPSHOT_MODE: 'initial_only' }, 'fail SOURCE_PRECONDITION_FAILED'],
  ['MySQL with read_view asked: read-view snapshot', 'none', 'ok', 'mysql', { SNAPSHOT_METHOD: 'read_view' }, 'snapshot → snapshot'],
  ['MySQL restart: the stored position', 'position', 'ok', 'mysql', {}, '→ stored'],
];

function describePlan(facts: StartFacts): string {
  const plan = planStart(facts);
  if (plan.action === 'fail') return `fail ${plan.error.code}`;
  const parts = [
    plan.positionLost && 'lost',
    plan.snapshot && 'snapshot',
    plan.snapshot?.resume && 'resume',
    plan.resumeIncremental && 'resume-incremental',
    plan.incrementalAll && 'incremental',
    plan.stopAfterSnapshot && 'stop',
  ].filter(Boolean);
  return `${parts.join(' ')}${parts.length ? ' ' : ''}→ ${plan.streamFrom}`;
}

describe('planStart', () => {
  for (const [name, stored, retention, connector, config, expected] of table) {
    it(name, () => {
      const facts: StartFacts = {
        stored: stored === 'none' ? undefined : { position, snapshot: stored === 'snapshot' ? snapshot : undefined, incremental: stored === 'incremental' ? incremental : undefined },
        retentionError: retention === 'purged' ? purged : retention === 'unreachable' ? unreachable : undefined,
        connector,
        serverVersion: 'test',
        config: { SNAPSHOT_MODE: 'initial', SNAPSHOT_METHOD: 'auto', ON_POSITION_LOST: 'fail', SIGNAL_TABLE: undefined, START_POSITION: 'latest', ...config },
      };
      assert.equal(describePlan(facts), expected);
    });
  }
});
