import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { registryError } from '../../src/core/schema-registry.ts';

/**
 * Found by the fault run (docs/faults.md): while the registry restarted, the sink dead-lettered
 * thousands of good records as "Cannot decode the value (schema id 24): … status 400: connect
 * ECONNREFUSED". The registry client reports a request that never reached the registry as a 400.
 */
describe('registry errors: unreachable is not a bad request', () => {
  it('a refused connection, as the registry client reports it, is retriable', async () => {
    // A port nobody listens on: bind one, note it, close it.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const client = new SchemaRegistry({ host: `http://127.0.0.1:${port}` }, {});
    const refused = await client.getSchema(1).then(
      () => assert.fail('no registry listens there'),
      (error: unknown) => error,
    );
    const cdc = registryError(refused, 'schema id 1');
    assert.equal(cdc.code, 'REGISTRY_UNAVAILABLE');
    assert.equal(cdc.retriable, true, cdc.message);
  });

  it('a 400 the registry answered itself stays final', () => {
    const answered = Object.assign(new Error('Confluent_Schema_Registry - Either the input schema or one of its references is invalid'), { status: 400 });
    assert.equal(registryError(answered, 'subject s').retriable, false);
  });
});
