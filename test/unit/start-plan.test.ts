import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { SourcePosition } from '../../src/core/position.ts';
import { planStart, type StartFacts } from '../../src/source/start-plan.ts';

const position = new SourcePosition('binlog.000002', 4, 0, '0-101-7', 0, 2);
const snapshot = { tables: ['db.t'], done: [], streamFrom: position.toJSON() } as never;
const incremental = { tables: ['db.t'], done: [], startedAt: 0 };
const purged = new CdcError('SOURCE_POSITION_PURGED', 'purged');
const unreachable = new CdcError('SOURCE_UNREACHABLE', 'down', { retriable: true });
const histories = {
  reset: { kind: 'reset', reason: 'binlog.000002 holds 400 bytes, fewer than the stored offset 9000' },
  'other-server': { kind: 'server', reason: "the server's server_id is 2, the stored position was read from server_id 1" },
} as const;

type Row = [
  name: string,
  stored: 'none' | 'position' | 'no-gtids' | 'snapshot' | 'incremental' | 'epoch-255',
  /** What the server says of the stored position: still there, purged, unreachable, or in another binlog history. */
  server: 'ok' | 'purged' | 'unreachable' | keyof typeof histories,
  connector: 'mariadb' | 'mysql',
  config: Partial<StartFacts['config']>,
  expected: string,
];

/**
 * Each row: the facts, then the plan as `fail CODE` or `snapshot?/resume?/incremental?/stop? → streamFrom @epoch`.
 * A stored position is of binlog epoch 2; a first start is epoch 0.
 */
const table: Row[] = [
  ['first start: read-view snapshot, then stream from it', 'none', 'ok', 'mariadb', {}, 'snapshot → snapshot @0'],
  ['first start, never: from the end of the binlog', 'none', 'ok', 'mariadb', { SNAPSHOT_MODE: 'never' }, '→ binlog-end @0'],
  ['first start, never, earliest', 'none', 'ok', 'mariadb', { SNAPSHOT_MODE: 'never', START_POSITION: 'earliest' }, '→ oldest @0'],
  ['restart: the stored position, in its epoch', 'position', 'ok', 'mariadb', {}, '→ stored @2'],
  ['restart during a snapshot: resume it', 'snapshot', 'ok', 'mariadb', {}, 'snapshot resume → snapshot @2'],
  ['restart during an incremental snapshot: continue it', 'incremental', 'ok', 'mariadb', {}, 'resume-incremental → stored @2'],
  ['initial_only: snapshot, then stop', 'none', 'ok', 'mariadb', { SNAPSHOT_MODE: 'initial_only' }, 'snapshot stop → snapshot @0'],
  ['initial_only after it finished: stop at once', 'position', 'ok', 'mariadb', { SNAPSHOT_MODE: 'initial_only' }, 'stop → stored @2'],
  ['purged: fail', 'position', 'purged', 'mariadb', {}, 'fail SOURCE_POSITION_PURGED'],
  ['purged, when_needed: a new snapshot in a new epoch', 'position', 'purged', 'mariadb', { SNAPSHOT_MODE: 'when_needed' }, 'lost snapshot → snapshot @3'],
  ['purged during a snapshot: start it again', 'snapshot', 'purged', 'mariadb', {}, 'lost snapshot → snapshot @3'],
  ['purged, resnapshot: incremental from the binlog end', 'position', 'purged', 'mariadb', { ON_POSITION_LOST: 'resnapshot', SIGNAL_TABLE: 'db.signal' }, 'lost incremental → binlog-end @3'],
  ['server unreachable: fail (retriable)', 'position', 'unreachable', 'mariadb', { SNAPSHOT_MODE: 'when_needed' }, 'fail SOURCE_UNREACHABLE'],
  ['binlog reset: fail as a lost position', 'position', 'reset', 'mariadb', {}, 'fail SOURCE_POSITION_PURGED'],
  ['binlog reset, when_needed: a new snapshot in a new epoch', 'position', 'reset', 'mariadb', { SNAPSHOT_MODE: 'when_needed' }, 'lost snapshot → snapshot @3'],
  ['binlog reset, resnapshot: incremental from the new binlog end', 'position', 'reset', 'mariadb', { ON_POSITION_LOST: 'resnapshot', SIGNAL_TABLE: 'db.signal' }, 'lost incremental → binlog-end @3'],
  ['binlog reset during a snapshot: start it again', 'snapshot', 'reset', 'mariadb', {}, 'lost snapshot → snapshot @3'],
  ['binlog reset, the GTIDs are not trusted either', 'position', 'reset', 'mariadb', { RESUME_BY: 'gtid' }, 'fail SOURCE_POSITION_PURGED'],
  ['another server: resume by GTID in a new epoch', 'position', 'other-server', 'mariadb', {}, 'other-server → stored @3'],
  ['another server, RESUME_BY=file: the position is lost', 'position', 'other-server', 'mariadb', { RESUME_BY: 'file' }, 'fail SOURCE_POSITION_PURGED'],
  ['another server without stored GTIDs, when_needed: a new snapshot', 'no-gtids', 'other-server', 'mariadb', { SNAPSHOT_MODE: 'when_needed' }, 'lost snapshot → snapshot @3'],
  ['no epoch left: fail', 'epoch-255', 'reset', 'mariadb', { SNAPSHOT_MODE: 'when_needed' }, 'fail VERSION_OUT_OF_RANGE'],
  ['the last epoch still runs', 'epoch-255', 'ok', 'mariadb', {}, '→ stored @255'],
  ['MySQL first start: incremental snapshot', 'none', 'ok', 'mysql', { SIGNAL_TABLE: 'db.signal' }, 'incremental → binlog-end @0'],
  ['MySQL first start without a signal table: fail', 'none', 'ok', 'mysql', {}, 'fail SOURCE_PRECONDITION_FAILED'],
  ['MySQL initial_only: fail', 'none', 'ok', 'mysql', { SIGNAL_TABLE: 'db.signal', SNAPSHOT_MODE: 'initial_only' }, 'fail SOURCE_PRECONDITION_FAILED'],
  ['MySQL with read_view asked: read-view snapshot', 'none', 'ok', 'mysql', { SNAPSHOT_METHOD: 'read_view' }, 'snapshot → snapshot @0'],
  ['MySQL restart: the stored position', 'position', 'ok', 'mysql', {}, '→ stored @2'],
];

function describePlan(facts: StartFacts): string {
  const plan = planStart(facts);
  if (plan.action === 'fail') return `fail ${plan.error.code}`;
  const parts = [
    plan.positionLost && 'lost',
    plan.otherServer && 'other-server',
    plan.snapshot && 'snapshot',
    plan.snapshot?.resume && 'resume',
    plan.resumeIncremental && 'resume-incremental',
    plan.incrementalAll && 'incremental',
    plan.stopAfterSnapshot && 'stop',
  ].filter(Boolean);
  return `${parts.join(' ')}${parts.length ? ' ' : ''}→ ${plan.streamFrom} @${plan.epoch}`;
}

describe('planStart', () => {
  for (const [name, stored, server, connector, config, expected] of table) {
    it(name, () => {
      const storedPosition = stored === 'no-gtids' ? position.withoutGtids() : stored === 'epoch-255' ? position.withEpoch(255) : position;
      const facts: StartFacts = {
        stored: stored === 'none' ? undefined : { position: storedPosition, snapshot: stored === 'snapshot' ? snapshot : undefined, incremental: stored === 'incremental' ? incremental : undefined },
        retentionError: server === 'purged' ? purged : server === 'unreachable' ? unreachable : undefined,
        history: server === 'reset' || server === 'other-server' ? histories[server] : undefined,
        connector,
        serverVersion: 'test',
        config: { SNAPSHOT_MODE: 'initial', SNAPSHOT_METHOD: 'auto', ON_POSITION_LOST: 'fail', SIGNAL_TABLE: undefined, START_POSITION: 'latest', RESUME_BY: 'gtid', ...config },
      };
      assert.equal(describePlan(facts), expected);
    });
  }
});
