import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schemaFingerprint, type ChangeEvent, type ColumnDef, type Op } from '../../src/core/change-event.ts';
import { CdcError } from '../../src/core/errors.ts';
import { SourcePosition } from '../../src/core/position.ts';
import type { EncodedRecord } from '../../src/source/encoded-record.ts';
import { type DeadLetterRecord, OversizePolicy, RECORD_OVERHEAD_BYTES, type OversizeOutcome } from '../../src/source/oversize-policy.ts';

const columns: ColumnDef[] = [
  { name: 'id', kind: 'int64', sqlType: 'bigint', optional: false },
  { name: 'body', kind: 'string', sqlType: 'longtext', optional: true },
];
const schema = { database: 'shop', table: 'docs', columns, key: ['id'], fingerprint: schemaFingerprint(columns, ['id']) };
const LIMIT = 1000;
const change = (op: Op, flat = false): ChangeEvent => ({
  op,
  schema,
  before: op === 'c' ? null : { id: 7n, body: 'old' },
  after: op === 'd' ? null : { id: 7n, body: 'new' },
  position: new SourcePosition('binlog.000004', 1234, 2),
  gtid: '0-1-99',
  tsMs: 1_700_000_000_000,
  snapshot: 'false',
  serverId: 1,
  ...(flat ? { flat } : {}),
});
const record = (bytes: number): EncodedRecord => ({ topic: 'cdc.shop.docs', key: Buffer.from('key'), value: Buffer.alloc(bytes - 3), bytes });
const fits = record(LIMIT - RECORD_OVERHEAD_BYTES);
const tooLarge = record(LIMIT - RECORD_OVERHEAD_BYTES + 1);

function policy(mode: 'fail' | 'dead-letter') {
  const outcomes: Array<[string, OversizeOutcome]> = [];
  const p = new OversizePolicy({ maxMessageBytes: LIMIT, mode, deadLetterTopic: 'cdc.dlq' }, (table, outcome) => outcomes.push([table, outcome]));
  return { p, outcomes };
}
const unused = () => assert.fail('withoutBefore is not needed here');

describe('oversize policy', () => {
  it('admits a record up to the limit with its framing, under either mode', () => {
    for (const mode of ['fail', 'dead-letter'] as const) assert.equal(policy(mode).p.admit(fits, change('u'), unused), fits);
  });

  it('fail: RECORD_TOO_LARGE naming table, key, position, size, limit and the settings', () => {
    const { p, outcomes } = policy('fail');
    assert.throws(
      () => p.admit(tooLarge, change('u'), unused),
      (error: unknown) => {
        assert.ok(error instanceof CdcError);
        assert.equal(error.code, 'RECORD_TOO_LARGE');
        assert.equal(error.retriable, false);
        assert.equal(
          error.message,
          `The u change of shop.docs with key {"id":7} at binlog.000004:1234#2 (GTID 0-1-99) encodes to ${LIMIT + 1} bytes, above the ${LIMIT} bytes its topic cdc.shop.docs takes (TOPIC_MAX_MESSAGE_BYTES)`,
        );
        assert.match(error.hint!, /TOPIC_MAX_MESSAGE_BYTES.*OVERSIZE_RECORDS=dead-letter.*COLUMN_EXCLUDE/);
        return true;
      },
    );
    assert.deepEqual(outcomes, []);
  });

  it('dead-letter: an update or delete that fits without its before image goes so', () => {
    for (const op of ['u', 'd'] as const) {
      const { p, outcomes } = policy('dead-letter');
      assert.equal(
        p.admit(tooLarge, change(op), () => fits),
        fits,
      );
      assert.deepEqual(outcomes, [['shop.docs', 'without_before']]);
    }
  });

  it('dead-letter: otherwise a letter with key, position and sizes but no row content, in the Connect header format', () => {
    for (const [op, slim] of [
      ['c', undefined],
      ['u', tooLarge],
      ['u', undefined],
    ] as const) {
      const { p, outcomes } = policy('dead-letter');
      const event = op === 'u' && slim === undefined ? change('u', true) : change(op);
      const letter = p.admit(tooLarge, event, () => slim ?? assert.fail('a flat record has no before image to drop')) as DeadLetterRecord;
      assert.deepEqual(outcomes, [['shop.docs', 'dead_lettered']]);
      assert.equal(letter.topic, 'cdc.dlq');
      assert.deepEqual(letter.key, tooLarge.key, "the record's own key");
      assert.deepEqual(JSON.parse(letter.value!.toString()), {
        code: 'RECORD_TOO_LARGE',
        topic: 'cdc.shop.docs',
        table: 'shop.docs',
        op,
        key: { id: 7 },
        position: { file: 'binlog.000004', pos: 1234, row: 2 },
        gtid: '0-1-99',
        ts_ms: 1_700_000_000_000,
        bytes: { key: 3, value: tooLarge.bytes - 3, record: LIMIT + 1 },
        limit: LIMIT,
      });
      assert.equal(letter.bytes, letter.key!.length + letter.value!.length);
      assert.doesNotMatch(letter.value!.toString(), /new|old/, 'no row content');
      assert.equal(letter.headers['__connect.errors.topic'], 'cdc.shop.docs');
      assert.equal(letter.headers['__connect.errors.exception.class.name'], 'RECORD_TOO_LARGE');
      assert.equal(letter.headers['cdc.errors.code'], 'RECORD_TOO_LARGE');
      assert.equal(letter.headers['cdc.errors.reason'], `${LIMIT + 1} bytes > ${LIMIT}`);
      assert.equal('__connect.errors.offset' in letter.headers, false, 'never in Kafka: no offset');
    }
  });
});
