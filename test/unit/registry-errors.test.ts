import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registryError } from '../../src/core/registry-errors.ts';
import { type ClassifierRow, classifies } from '../helpers/classifier-table.ts';
import { Registry } from '../../src/core/schema-registry.ts';

/** An error answer as core/schema-registry.ts raises it: HTTP status and the Confluent API's error_code. */
function answered(status: number, errorCode?: number): Error {
  return Object.assign(new Error(`POST /subjects/t-value/versions answered ${status}`), { status, errorCode });
}

describe('schema registry errors, by HTTP status and Confluent error_code', () => {
  const table: ClassifierRow[] = [
    ['409 / 409 (incompatible schema)', answered(409, 409), 'SCHEMA_INCOMPATIBLE', false],
    ['422 / 42201 (invalid schema)', answered(422, 42201), 'REGISTRY_REJECTED', false],
    ['422 / 42205 (subject read-only)', answered(422, 42205), 'REGISTRY_REJECTED', false],
    ['404 / 40403 (schema id unknown)', answered(404, 40403), 'REGISTRY_REJECTED', false],
    ['401 (credentials)', answered(401, 401), 'AUTH_FAILED', false],
    ['403 (forbidden)', answered(403, 40301), 'AUTH_FAILED', false],
    ['429 (throttled)', answered(429), 'REGISTRY_UNAVAILABLE', true],
    ['500 / 50001 (backend store)', answered(500, 50001), 'REGISTRY_UNAVAILABLE', true],
    ['500 / 50003 (leader unreachable)', answered(500, 50003), 'REGISTRY_UNAVAILABLE', true],
    ['503 without a Confluent body (a proxy)', answered(503), 'REGISTRY_UNAVAILABLE', true],
    ['no answer (ECONNREFUSED)', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8081'), { code: 'ECONNREFUSED' }), 'REGISTRY_UNAVAILABLE', true],
    ['a 400 whose text says "incompatible" (text does not decide)', Object.assign(answered(400), { message: 'compatibility level unknown' }), 'REGISTRY_REJECTED', false],
  ];
  classifies(table, (error) => registryError(error, 'subject t-value'));
});

describe('registry requests', () => {
  it('a registry that does not answer is an outage the service retries, not a refusal', async () => {
    // Port 9 (discard) refuses the connection on the test machine.
    const registry = new Registry({ url: 'http://127.0.0.1:9' });
    try {
      await assert.rejects(registry.avroType(1), (error: { code: string; retriable: boolean }) => error.code === 'REGISTRY_UNAVAILABLE' && error.retriable);
    } finally {
      registry.close();
    }
  });
});
