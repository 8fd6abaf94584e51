import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PurgeRiskAlarm, purgeRisk, type PurgeRiskInput } from '../../src/source/retention.ts';

const NOW = 1_800_000_000_000;
const WARN = { seconds: 3600, bytes: 64 * 1024 * 1024 };
const input = (over: Partial<PurgeRiskInput>): PurgeRiskInput => ({ retentionSeconds: 0, retentionBytes: 0, bytesAfterPosition: 1_000, positionTimeMs: NOW, ...over });

describe('purge warnings', () => {
  const cases: Array<[string, Partial<PurgeRiskInput>, RegExp | undefined]> = [
    ['a server that never expires binlogs, however old the position', { positionTimeMs: NOW - 30 * 86_400_000 }, undefined],
    ['expiry after a day, position fresh', { retentionSeconds: 86_400 }, undefined],
    ['expiry after a day, position 23.5 h old', { retentionSeconds: 86_400, positionTimeMs: NOW - 84_600_000 }, /binlog expiry after 86400 s can purge it in about 1800 s/],
    ['expiry already due', { retentionSeconds: 600, positionTimeMs: NOW - 3_600_000 }, /in about 0 s/],
    ['size limit far away', { retentionBytes: 10 * 1024 ** 3, bytesAfterPosition: 1024 ** 2 }, undefined],
    ['size limit close', { retentionBytes: 100 * 1024 ** 2, bytesAfterPosition: 90 * 1024 ** 2 }, /size limit of 104857600 bytes can purge it after about 10485760 more bytes/],
  ];
  for (const [name, over, expected] of cases) {
    it(name, () => {
      const risk = purgeRisk(input(over), NOW, WARN);
      if (expected) assert.match(risk ?? '', expected);
      else assert.equal(risk, undefined);
    });
  }

  it('reports a change of condition once: raised, then cleared', () => {
    const alarm = new PurgeRiskAlarm();
    assert.deepEqual(
      [undefined, 'risk', 'risk', 'other risk', undefined, undefined, 'risk'].map((r) => alarm.update(r)),
      [undefined, 'raised', undefined, undefined, 'cleared', undefined, 'raised'],
    );
  });
});
