import { createHash } from 'node:crypto';
import type mysql from 'mysql2/promise';
import { dumpIndex, es } from './elasticsearch.ts';
import { rows } from './mysql.ts';
import { waitFor } from './wait.ts';

export const MiB = 1024 * 1024;

/** A table of large values, compared with its index by hashes (its documents are MiB each). */
export const BLOBS_DDL = 'CREATE TABLE blobs (id INT PRIMARY KEY, note VARCHAR(40) NOT NULL, body LONGTEXT, data LONGBLOB)';

export const sha256 = (data: Buffer | string | null | undefined) => (data == null ? null : createHash('sha256').update(data).digest('hex'));

/** Differences between the table and its index, by hashes of the large columns. */
export async function blobDifferences(conn: mysql.Connection, index: string): Promise<string[]> {
  const table = await rows(conn, 'SELECT id, note, SHA2(body, 256) AS body, SHA2(data, 256) AS data FROM blobs');
  const docs = await dumpIndex(index);
  const problems: string[] = [];
  for (const row of table) {
    const doc = docs.get(String(row.id))?.source;
    if (!doc) problems.push(`row ${row.id} missing`);
    else {
      const indexed = { note: doc.note, body: sha256(doc.body as string | null), data: sha256(doc.data == null ? null : Buffer.from(doc.data as string, 'base64')) };
      if (JSON.stringify(indexed) !== JSON.stringify({ note: row.note, body: row.body, data: row.data })) problems.push(`row ${row.id}: ${JSON.stringify(indexed)}`);
    }
  }
  if (docs.size !== table.length) problems.push(`${docs.size} documents for ${table.length} rows`);
  return problems;
}

/** Waits for document `marker` (a row written or read last), then for the whole index to equal the table. */
export async function waitBlobsEqual(conn: mysql.Connection, index: string, marker: number): Promise<void> {
  // Comparing the big documents only once the marker is there keeps the polling light.
  await waitFor(`document ${marker} in ${index}`, async () => (await es('GET', `/${index}/_doc/${marker}`)).status === 200, 240_000, 1000);
  await waitFor('Elasticsearch to equal MariaDB', async () => (await blobDifferences(conn, index)).length === 0, 60_000, 2000).catch(async (error: unknown) => {
    throw new Error(`${(error as Error).message}: ${(await blobDifferences(conn, index)).join('; ')}`);
  });
}
