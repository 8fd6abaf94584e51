import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { isDeepStrictEqual } from 'node:util';
import { DDL, docAsText, expectedCustomer, runWorkload } from '../helpers/demo-tables.ts';
import { dumpIndex, es } from '../helpers/elasticsearch.ts';
import { rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

/** INDEX_WRITE_ALIAS and DOCUMENT_METADATA: where documents go and what they carry besides the row. */
describe('document shape: write alias and change metadata', () => {
  const pipeline = new Pipeline(uniqueName('cdc_shape'));
  const alias = pipeline.indexOf('customers');
  const metadata = ['__m_op', '__m_ts_ms', '__m_position', '__m_gtid', '__m_version', '__m_key'];
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource();
    await pipeline.startSink({ INDEX_WRITE_ALIAS: 'true', DOCUMENT_METADATA: 'op,ts_ms,position,gtid,version,key', DOCUMENT_METADATA_PREFIX: '__m_' });
    await runWorkload(conn, 1, 30);
    await waitFor('the index to hold every row with its metadata', async () => {
      const table = await rows(conn, 'SELECT * FROM customers');
      const docs = await dumpIndex(alias);
      return docs.size === table.length && table.every((row) => isDeepStrictEqual(stripMetadata(docAsText(docs.get(String(row.id))?.source ?? {})), expectedCustomer(row)));
    });
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  function stripMetadata(doc: Record<string, string | null>): Record<string, string | null> {
    return Object.fromEntries(Object.entries(doc).filter(([k]) => !metadata.includes(k)));
  }

  it('writes through an alias whose write index is <name>-000001', async () => {
    const answer = await es('GET', `/_alias/${alias}`);
    assert.deepEqual(answer.body, { [`${alias}-000001`]: { aliases: { [alias]: { is_write_index: true } } } });
  });

  it('adds op, commit time, position, gtid, version and key under the prefix, consistent with the document', async () => {
    const docs = await dumpIndex(alias);
    assert.ok(docs.size > 20, `expected the customers, got ${docs.size}`);
    for (const [id, doc] of docs) {
      const s = doc.source;
      assert.ok(['c', 'u'].includes(String(s.__m_op)), `op of ${id}: ${String(s.__m_op)}`);
      assert.equal(BigInt(s.__m_version as bigint), doc.version, `${id}: the version field equals _version`);
      assert.match(String(s.__m_position), /^[\w.-]+\.\d+:\d+#\d+$/);
      assert.match(String(s.__m_gtid), /^\d+-\d+-\d+$/);
      assert.ok(Math.abs(Number(s.__m_ts_ms) - Date.now()) < 3_600_000, `${id}: commit time is recent`);
      assert.deepEqual(s.__m_key, { id: Number(id) });
    }
    const mapping = (await es('GET', `/${alias}/_mapping/field/__m_ts_ms,__m_op`)).body as Record<string, { mappings: Record<string, { mapping: Record<string, { type: string }> }> }>;
    const fields = mapping[`${alias}-000001`]!.mappings;
    assert.equal(fields.__m_ts_ms!.mapping.__m_ts_ms!.type, 'date');
    assert.equal(fields.__m_op!.mapping.__m_op!.type, 'keyword');
  });
});
