import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Client } from '@elastic/elasticsearch';
import { createLogger } from '../../src/core/logger.ts';
import { type BulkAction, BulkWriter } from '../../src/sink/bulk-writer.ts';

/**
 * A stand-in for Elasticsearch that answers 413 above its own http.max_content_length: the real
 * cluster does so only above 100 MB, too much for a unit test. It records each request's size.
 */
function cluster(maxContentLength: number, itemError?: (request: number) => { type: string; reason: string } | undefined) {
  const requests: number[] = [];
  const client = {
    bulk: async ({ operations }: { operations: string }) => {
      const bytes = Buffer.byteLength(operations);
      requests.push(bytes);
      if (bytes > maxContentLength) throw Object.assign(new Error('Request Entity Too Large'), { meta: { statusCode: 413 } });
      const error = itemError?.(requests.length);
      return error ? { errors: true, items: [{ index: { status: 429, error } }] } : { errors: false, items: [] };
    },
  };
  return { client: client as unknown as Client, requests };
}

const action = (id: number, bytes: number): BulkAction<number> => ({ index: 'docs', id: String(id), version: BigInt(id), document: `"${'é'.repeat(Math.floor((bytes - 2) / 2))}"`, origin: id });
const log = createLogger('silent', 'test');

describe('bulk writer request sizes', () => {
  it('keeps each request under BULK_MAX_BYTES counted in UTF-8 bytes, and rejects an action above ELASTICSEARCH_MAX_REQUEST_BYTES unsent', async () => {
    const { client, requests } = cluster(Infinity);
    const writer = new BulkWriter(client, { maxActions: 1000, maxBytes: 10_000, maxRequestBytes: 50_000 }, log);
    const stats = await writer.write([action(1, 4000), action(2, 4000), action(3, 4000), action(4, 30_000), action(5, 60_000), action(6, 100)]);
    assert.deepEqual(
      requests.map((b) => Math.round(b / 1000)),
      [8, 4, 30, 0],
      'two 4 kB documents per request (the third would pass 10 kB), the 30 kB one alone',
    );
    assert.equal(stats.ok, 5);
    assert.deepEqual(
      stats.rejected.map((r) => [r.action.origin, r.error.code]),
      [[5, 'RECORD_TOO_LARGE']],
    );
    assert.match(stats.rejected[0]!.error.message, /Document 5 of index docs cannot be sent in a bulk request: its \d+ bytes exceed ELASTICSEARCH_MAX_REQUEST_BYTES=50000/);
  });

  it('a 413 halves the request down to the one document, which is rejected instead of sent again', async () => {
    const { client, requests } = cluster(20_000);
    const writer = new BulkWriter(client, { maxActions: 1000, maxBytes: 100_000, maxRequestBytes: 100_000 }, log);
    const stats = await writer.write([action(1, 8000), action(2, 8000), action(3, 30_000), action(4, 8000)]);
    assert.equal(stats.ok, 3);
    assert.deepEqual(
      stats.rejected.map((r) => r.action.origin),
      [3],
    );
    assert.match(stats.rejected[0]!.error.message, /Elasticsearch answered 413/);
    assert.ok(
      requests.every((b, i) => b <= 20_000 || requests[i + 1]! < b),
      `every 413 is followed by a smaller request: ${requests}`,
    );
    assert.ok(requests.length <= 6, `a bounded number of requests: ${requests}`);
  });

  it('a document that alone exceeds indexing pressure is rejected; a transient pressure refusal is retried', async () => {
    const refusal = (operation: number) => ({
      type: 'es_rejected_execution_exception',
      reason: `rejected execution of primary operation [coordinating_and_primary_bytes=28311763, replica_bytes=0, all_bytes=28311763, primary_operation_bytes=${operation}, max_primary_bytes=53687091]`,
    });
    const alone = cluster(Infinity, () => refusal(113246252));
    const stats = await new BulkWriter(alone.client, { maxActions: 10, maxBytes: 100_000, maxRequestBytes: 100_000 }, log).write([action(1, 100)]);
    assert.equal(alone.requests.length, 1, 'not retried');
    assert.equal(stats.rejected[0]!.error.code, 'RECORD_TOO_LARGE');
    assert.match(stats.rejected[0]!.error.message, /needs 113246252 bytes of Elasticsearch's indexing pressure budget, above its whole 53687091/);

    const busy = cluster(Infinity, (n) => (n === 1 ? refusal(1000) : undefined));
    const retried = await new BulkWriter(busy.client, { maxActions: 10, maxBytes: 100_000, maxRequestBytes: 100_000 }, log).write([action(1, 100)]);
    assert.deepEqual([retried.ok, retried.retried, retried.rejected.length], [1, 1, 0]);
  });

  it('sends the NDJSON text of its actions as UTF-8, whatever their characters', async () => {
    const bodies: string[] = [];
    const bulk = async ({ operations }: { operations: Buffer }) => {
      bodies.push(operations.toString('utf8'));
      return { errors: false, items: [] };
    };
    const client = { bulk } as unknown as Client;
    const texts = ['plain', 'é'.repeat(5000), '😀'.repeat(3000), `"${'\u{10ffff}'.repeat(700)}"`, '\ud800 lone'];
    const actions: BulkAction<number>[] = texts.map((text, i) => ({ index: 'docs-ü', id: `id "${i}" ü`, version: 2n ** 62n + BigInt(i), document: JSON.stringify({ text }), origin: i }));
    actions.push({ index: 'docs-ü', id: 'gone', version: 9n, document: null, origin: 9 });
    // Documents rendered as bytes, versions either side of 2^53, ids needing escapes or not.
    for (const [i, version] of [0n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n].entries()) {
      actions.push({ index: 'docs', id: ['123', 'tab\there', 'x\u0000"\\', '😀'][i]!, version, document: Buffer.from(JSON.stringify({ n: i, s: 'ü😀' })), origin: 10 + i });
    }
    await new BulkWriter(client, { maxActions: 1000, maxBytes: 1_000_000, maxRequestBytes: 1_000_000 }, log).write(actions);
    const expected = actions
      .map((a) => {
        const meta = `{"_index":${JSON.stringify(a.index)},"_id":${JSON.stringify(a.id)},"version":${a.version},"version_type":"external"}`;
        return a.document === null ? `{"delete":${meta}}\n` : `{"index":${meta}}\n${a.document.toString()}\n`;
      })
      .join('');
    assert.deepEqual(bodies, [expected]);
  });
});
