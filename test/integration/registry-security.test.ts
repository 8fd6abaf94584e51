import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DDL, runWorkload } from '../helpers/demo-tables.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { WRONG_PASSWORD, assertCodedFailure, describeSecuredPipeline } from '../helpers/security.ts';
import { startService, uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { startRegistryTlsProxy, type RegistryProxy } from '../faults/registry-tls-proxy.ts';

const USER = 'registry-client';
const PASSWORD = `registry-${randomBytes(12).toString('hex')}`;

describe('schema registry over HTTPS with basic auth (a TLS + auth proxy in front of the real registry)', () => {
  let proxy: RegistryProxy;
  let expiredProxy: RegistryProxy;
  const registryEnv = () => ({ SCHEMA_REGISTRY_URL: proxy.url, SCHEMA_REGISTRY_USERNAME: USER, SCHEMA_REGISTRY_PASSWORD: PASSWORD, SCHEMA_REGISTRY_SSL_CA_FILE: stackEnv().CDC_TLS_CA_FILE });

  before(async () => {
    proxy = await startRegistryTlsProxy({ username: USER, password: PASSWORD });
    expiredProxy = await startRegistryTlsProxy({ username: USER, password: PASSWORD, expiredCertificate: true });
  });

  after(async () => {
    await proxy?.close();
    await expiredProxy?.close();
  });

  describeSecuredPipeline(
    'a pipeline whose source and sink both use the secured registry',
    () => ({ source: registryEnv(), sink: registryEnv() }),
    () => {
      assert.ok(proxy.forwarded > 0, 'the services reached the registry through the proxy');
      assert.equal(proxy.refused, 0, 'no request without the right credentials');
    },
  );

  /** A source that must register a schema at once (a snapshot of a table with rows), expected to stop. */
  async function failingSource(env: Record<string, string>) {
    const pipeline = new Pipeline(uniqueName('cdc_reg_fail'));
    const conn = await pipeline.createDatabase(DDL);
    try {
      await runWorkload(conn, 1, 3);
      const source = startService('source', pipeline.sourceEnv({ ...registryEnv(), SNAPSHOT_MODE: 'initial', ...env }));
      const status = await source.exited;
      return { status, stderr: source.lines.map((l) => l.raw).join('\n') };
    } finally {
      await conn.end();
    }
  }

  it('a wrong password is AUTH_FAILED naming the schema registry and SCHEMA_REGISTRY_PASSWORD', async () => {
    assertCodedFailure(await failingSource({ SCHEMA_REGISTRY_PASSWORD: WRONG_PASSWORD }), 'AUTH_FAILED', 'schema registry', 'SCHEMA_REGISTRY_PASSWORD');
  });

  it('an unknown CA is TLS_CERT_INVALID naming the schema registry and SCHEMA_REGISTRY_SSL_CA_FILE', async () => {
    assertCodedFailure(
      await failingSource({ SCHEMA_REGISTRY_SSL_CA_FILE: stackEnv().CDC_TLS_OTHER_CA_FILE }),
      'TLS_CERT_INVALID',
      'schema registry',
      'SCHEMA_REGISTRY_SSL_CA_FILE',
      'not signed by a trusted CA',
    );
  });

  it('an expired certificate is TLS_CERT_INVALID naming the schema registry and SCHEMA_REGISTRY_SSL_CA_FILE', async () => {
    assertCodedFailure(await failingSource({ SCHEMA_REGISTRY_URL: expiredProxy.url }), 'TLS_CERT_INVALID', 'schema registry', 'SCHEMA_REGISTRY_SSL_CA_FILE', 'expired');
  });
});
