import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SinkConfig } from '../../src/config/sink.ts';
import { elasticsearchClient } from '../../src/sink/elasticsearch-client.ts';

describe('the sink’s Elasticsearch client', () => {
  // A connection lost mid-request, which a real cluster does not do on demand: this server drops every request.
  const server = createServer((request) => request.socket.destroy());
  let url = '';
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('fails a lost bulk request without copying its body, and without the credentials in the error', async () => {
    const client = elasticsearchClient({ ELASTICSEARCH_URL: url, ELASTICSEARCH_USERNAME: 'cdc', ELASTICSEARCH_PASSWORD: 'pw-f00d-cafe' } as SinkConfig);
    const body = Buffer.alloc(256 * 1024, 'a');
    const error = await client.bulk({ operations: body as never }).then(
      () => assert.fail('the request was dropped'),
      (failure: unknown) => failure as { name: string; meta: { meta: { request: { params: { body: unknown } } } } },
    );
    assert.equal(error.name, 'ConnectionError');
    // Masking secrets by copying the error's values turned this body into an object of 262,144 keys.
    assert.equal(error.meta.meta.request.params.body, body);
    const { body: _, ...rest } = error.meta.meta.request.params;
    assert.doesNotMatch(JSON.stringify({ ...error.meta, meta: { ...error.meta.meta, request: { params: rest } } }), /pw-f00d-cafe|Basic /);
    await client.close();
  });
});
