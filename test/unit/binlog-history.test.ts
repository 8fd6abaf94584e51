import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourcePosition } from '../../src/core/position.ts';
import type { ServerIdentity } from '../../src/core/source-offsets.ts';
import { type HistoryFacts, historyChange } from '../../src/source/binlog-history.ts';

const stored: { position: SourcePosition; server: ServerIdentity | undefined } = { position: new SourcePosition('binlog.000002', 900, 0, '0-101-7'), server: { serverId: 101 } };
const same: HistoryFacts = {
  server: { serverId: 101 },
  files: [
    { name: 'binlog.000001', size: 5000 },
    { name: 'binlog.000002', size: 2000 },
  ],
  gtidsAtPosition: '0-101-7',
  gtidsExecuted: undefined,
};

type Row = [name: string, stored: typeof stored, facts: HistoryFacts, expected: string];

/** Each row: the stored position and server, what the server says now, and `same`, `server: …` or `reset: …`. */
const table: Row[] = [
  ['the same binlog', stored, same, 'same'],
  ['another GTID domain on the server is no change', stored, { ...same, gtidsAtPosition: '0-101-7,1-5-3' }, 'same'],
  ['a record stored before identities were kept: position only', { ...stored, server: undefined }, same, 'same'],
  ['the stored file was purged: for the retention check', { ...stored, position: new SourcePosition('binlog.000001', 900, 0, '0-101-3') }, { ...same, files: [same.files[1]!] }, 'same'],
  ['server_id changed', stored, { ...same, server: { serverId: 102 } }, 'server: server_id is 102'],
  ['server_uuid changed (MySQL)', { ...stored, server: { serverId: 101, uuid: 'a' } }, { ...same, server: { serverId: 101, uuid: 'b' } }, 'server: server_uuid is b'],
  [
    'RESET MASTER: the file index moved backwards',
    stored,
    { ...same, files: [{ name: 'binlog.000001', size: 400 }], gtidsAtPosition: undefined },
    'reset: newest binlog on the server is binlog.000001',
  ],
  [
    'RESET MASTER: the same name, shorter than the position',
    stored,
    { ...same, files: [same.files[0]!, { name: 'binlog.000002', size: 400 }], gtidsAtPosition: undefined },
    'reset: fewer than the stored offset 900',
  ],
  ['RESET MASTER: the same name and long enough, but no event starts there', stored, { ...same, gtidsAtPosition: null }, 'reset: not where an event starts'],
  ['RESET MASTER: the same name and offset, other transactions before it', stored, { ...same, gtidsAtPosition: '0-101-3' }, 'reset: follows GTIDs 0-101-3'],
  ['RESET MASTER: at the new first binlog start', stored, { ...same, gtidsAtPosition: '' }, 'reset: follows GTIDs (none)'],
  [
    'MySQL: the server has not executed the stored GTIDs',
    { ...stored, position: new SourcePosition('binlog.000002', 900, 0, 'uuid:1-7') },
    { ...same, gtidsAtPosition: undefined, gtidsExecuted: false },
    'reset: not executed',
  ],
];

describe('historyChange', () => {
  for (const [name, storedOffset, facts, expected] of table) {
    it(name, () => {
      const change = historyChange(storedOffset, facts);
      if (expected === 'same') return assert.equal(change, undefined, change?.reason);
      const [kind, text] = expected.split(': ') as [string, string];
      assert.equal(change?.kind, kind, change?.reason);
      assert.ok(change!.reason.includes(text), change!.reason);
    });
  }
});
