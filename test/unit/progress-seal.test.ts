import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CdcError } from '../../src/core/errors.ts';
import { SourcePosition } from '../../src/core/position.ts';
import { decodeOffset, encodeOffset } from '../../src/core/source-offsets.ts';
import type { IncrementalProgress } from '../../src/source/incremental-snapshot.ts';
import type { SourceResumeState as ResumeState } from '../../src/source/offset-store.ts';
import { openStored, ProgressSeal } from '../../src/source/progress-seal.ts';
import type { SnapshotProgress } from '../../src/source/snapshot.ts';

const decode = (value: Buffer) => decodeOffset<SnapshotProgress, IncrementalProgress>(value);

const position = new SourcePosition('mariadb-bin.000003', 1200, 2);
const state: ResumeState = {
  snapshot: { streamFrom: position.toJSON(), tables: ['db.members'], done: [], current: { table: 'db.members', lastKey: ['raw-key-17@example.com'], rows: 17 }, startedAt: 1 },
  incremental: { tables: ['db.members'], done: [], current: { table: 'db.members', lastKey: ['raw-key-3@example.com'], upTo: ['raw-key-99@example.com'], rows: 3 }, startedAt: 2 },
};

describe('sealed snapshot progress', () => {
  const seal = ProgressSeal.forHashing({ COLUMN_HASH: [/x/], COLUMN_HASH_SALT: 'salt-of-the-hash' })!;

  it('stores no raw key value, and opens to the same progress', () => {
    const stored = encodeOffset(position, seal.seal(state));
    assert.ok(!stored.toString().includes('raw-key'), stored.toString());
    assert.match(stored.toString(), /"table":"db\.members"/, 'table names and counts stay readable for operators');
    const opened = openStored(decode(stored), seal)!;
    assert.deepEqual(opened.snapshot, state.snapshot);
    assert.deepEqual(opened.incremental, state.incremental);
  });

  it('seals only with COLUMN_HASH: without it progress is stored as it is', () => {
    assert.equal(ProgressSeal.forHashing({ COLUMN_HASH: undefined, COLUMN_HASH_SALT: undefined }), undefined);
    const plain = decode(encodeOffset(position, state));
    assert.deepEqual(openStored(plain, undefined)!.incremental, state.incremental);
  });

  it('refuses sealed progress under another salt, tampered, or read without COLUMN_HASH', () => {
    const stored = decode(encodeOffset(position, seal.seal(state)));
    const other = ProgressSeal.forHashing({ COLUMN_HASH: [/x/], COLUMN_HASH_SALT: 'another-salt' })!;
    const refused = (fn: () => unknown) => assert.throws(fn, (e: CdcError) => e.code === 'SOURCE_POSITION_INVALID' && /COLUMN_HASH_SALT/.test(e.message));
    refused(() => other.open(stored));
    refused(() => openStored(stored, undefined));
    const text = JSON.stringify(stored.incremental);
    const tampered = { ...stored, incremental: JSON.parse(text.replace(/sealed:aes-256-gcm:(.)/, (_m, c: string) => `sealed:aes-256-gcm:${c === 'A' ? 'B' : 'A'}`)) };
    refused(() => seal.open(tampered));
  });
});
