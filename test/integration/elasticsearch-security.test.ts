import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { describe, it } from 'node:test';
import { WRONG_PASSWORD, assertCodedFailure, describeSecuredPipeline } from '../helpers/security.ts';
import { startService, uniqueName, waitReady } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/** Runs a sink that is expected to stop at start, and returns its exit status and output. */
async function failingSink(env: Record<string, string>) {
  const sink = startService('sink', { TOPIC_PREFIX: uniqueName('t'), SINK_GROUP_ID: uniqueName('grp'), ...env });
  const status = await sink.exited;
  return { status, stderr: sink.lines.map((l) => l.raw).join('\n') };
}

/** The expiry date of the certificate Elasticsearch's HTTP port presents now. */
function servedCertificateEnd(): Promise<number> {
  const url = new URL(stackEnv().ELASTICSEARCH_URL);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), rejectUnauthorized: false }, () => {
      const end = Date.parse(socket.getPeerCertificate().valid_to);
      socket.end();
      resolve(end);
    });
    socket.on('error', reject);
  });
}

describe("Elasticsearch over HTTPS with basic auth (the stack's Elasticsearch runs with security on)", () => {
  describeSecuredPipeline('a pipeline through HTTPS and basic auth', () => ({}));

  it('a wrong password is AUTH_FAILED naming Elasticsearch and ELASTICSEARCH_PASSWORD', async () => {
    assertCodedFailure(await failingSink({ ELASTICSEARCH_PASSWORD: WRONG_PASSWORD }), 'AUTH_FAILED', 'Elasticsearch', 'ELASTICSEARCH_PASSWORD');
  });

  it('an API key goes to Elasticsearch as one: an unknown key is AUTH_FAILED naming ELASTICSEARCH_API_KEY', async () => {
    const key = Buffer.from('unknown-id:unknown-key').toString('base64');
    assertCodedFailure(await failingSink({ ELASTICSEARCH_USERNAME: '', ELASTICSEARCH_PASSWORD: '', ELASTICSEARCH_API_KEY: key }), 'AUTH_FAILED', 'Elasticsearch', 'ELASTICSEARCH_API_KEY');
  });

  it('an unknown CA is TLS_CERT_INVALID naming Elasticsearch and ELASTICSEARCH_SSL_CA_FILE', async () => {
    assertCodedFailure(
      await failingSink({ ELASTICSEARCH_SSL_CA_FILE: stackEnv().CDC_TLS_OTHER_CA_FILE }),
      'TLS_CERT_INVALID',
      'Elasticsearch',
      'ELASTICSEARCH_SSL_CA_FILE',
      'not signed by a trusted CA',
    );
  });

  it('ELASTICSEARCH_SSL_INSECURE=true connects despite an unknown CA, and warns', async () => {
    const sink = startService('sink', {
      TOPIC_PREFIX: uniqueName('t'),
      SINK_GROUP_ID: uniqueName('grp'),
      ELASTICSEARCH_SSL_CA_FILE: stackEnv().CDC_TLS_OTHER_CA_FILE,
      ELASTICSEARCH_SSL_INSECURE: 'true',
    });
    try {
      await waitReady(sink);
      assert.ok(sink.lines.some((l) => l.level === 'warn' && l.insecure === true && String(l.msg).startsWith('ELASTICSEARCH_SSL_INSECURE=true')));
    } finally {
      await sink.stop();
    }
  });

  it('an expired certificate is TLS_CERT_INVALID naming Elasticsearch and ELASTICSEARCH_SSL_CA_FILE', async () => {
    const env = stackEnv();
    const valid = { cert: readFileSync(env.CDC_ES_HTTP_CERT_FILE), key: readFileSync(env.CDC_ES_HTTP_KEY_FILE) };
    // Elasticsearch reloads its certificate files when they change (every 5 s by default).
    copyFileSync(env.CDC_TLS_EXPIRED_KEY_FILE, env.CDC_ES_HTTP_KEY_FILE);
    copyFileSync(env.CDC_TLS_EXPIRED_CERT_FILE, env.CDC_ES_HTTP_CERT_FILE);
    try {
      await waitFor('Elasticsearch to serve the expired certificate', async () => (await servedCertificateEnd()) < Date.now(), 60_000, 500);
      assertCodedFailure(await failingSink({}), 'TLS_CERT_INVALID', 'Elasticsearch', 'ELASTICSEARCH_SSL_CA_FILE', 'expired');
    } finally {
      writeFileSync(env.CDC_ES_HTTP_KEY_FILE, valid.key);
      writeFileSync(env.CDC_ES_HTTP_CERT_FILE, valid.cert);
      await waitFor('Elasticsearch to serve its valid certificate again', async () => (await servedCertificateEnd()) > Date.now(), 60_000, 500);
    }
  });
});
