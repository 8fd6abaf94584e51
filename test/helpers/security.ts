import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, runWorkload } from './demo-tables.ts';
import { Pipeline, waitUntilEqual } from './pipeline.ts';
import { runCli, uniqueName } from './services.ts';
import { recordSecret } from './capture.ts';
import { stackEnv } from './stack.ts';

/** The wrong password the security suites try; a secret too: printing a refused password leaks it. */
export const WRONG_PASSWORD = recordSecret('wrong-password-for-the-leak-check');

/** MTLS: the SSL listener that requires a client certificate, presented from KAFKA_SSL_CERT_FILE/KEY_FILE. */
export type KafkaListener = 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL' | 'MTLS';
export type SaslMechanism = 'PLAIN' | 'SCRAM-SHA-512';

/** Client settings for one of the test broker's secured listeners, with the right credentials. */
export function kafkaSecurityEnv(protocol: KafkaListener, mechanism?: SaslMechanism): Record<string, string> {
  const env = stackEnv();
  const brokers = { SSL: env.CDC_KAFKA_SSL_BROKERS, SASL_PLAINTEXT: env.CDC_KAFKA_SASL_BROKERS, SASL_SSL: env.CDC_KAFKA_SASL_SSL_BROKERS, MTLS: env.CDC_KAFKA_MTLS_BROKERS }[protocol];
  return {
    KAFKA_BROKERS: brokers,
    KAFKA_SECURITY_PROTOCOL: protocol === 'MTLS' ? 'SSL' : protocol,
    ...(protocol.endsWith('SSL') || protocol === 'MTLS' ? { KAFKA_SSL_CA_FILE: env.CDC_TLS_CA_FILE } : {}),
    ...(protocol === 'MTLS' ? { KAFKA_SSL_CERT_FILE: env.CDC_TLS_CLIENT_CERT_FILE, KAFKA_SSL_KEY_FILE: env.CDC_TLS_CLIENT_KEY_FILE } : {}),
    ...(mechanism === 'PLAIN' ? { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: env.CDC_KAFKA_PLAIN_USER, KAFKA_SASL_PASSWORD: env.CDC_KAFKA_PLAIN_PASSWORD } : {}),
    ...(mechanism === 'SCRAM-SHA-512' ? { KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: env.CDC_KAFKA_SCRAM_USER, KAFKA_SASL_PASSWORD: env.CDC_KAFKA_SCRAM_PASSWORD } : {}),
  };
}

/** The stack's passwordless REQUIRE X509 user: its client certificate is its only credential. */
export function x509User(certificate: 'ours' | 'other CA' | 'none' = 'ours'): Record<string, string> {
  const env = stackEnv();
  const files = { ours: [env.CDC_TLS_CLIENT_CERT_FILE, env.CDC_TLS_CLIENT_KEY_FILE], 'other CA': [env.CDC_TLS_OTHER_CLIENT_CERT_FILE, env.CDC_TLS_OTHER_CLIENT_KEY_FILE], none: [] }[certificate];
  return {
    MYSQL_USER: env.CDC_MYSQL_X509_USER,
    MYSQL_PASSWORD: '',
    MYSQL_SSL_MODE: 'verify_identity',
    MYSQL_SSL_CA_FILE: env.CDC_TLS_CA_FILE,
    ...(files.length > 0 ? { MYSQL_SSL_CERT_FILE: files[0]!, MYSQL_SSL_KEY_FILE: files[1]! } : {}),
  };
}

/**
 * A one-shot command's failure as an operator sees it: the coded line on stderr names the error
 * code, the service and the setting to fix.
 */
export function assertCodedFailure(result: { status: number | null; stderr: string }, code: string, ...mentions: string[]): void {
  const line = result.stderr.split('\n').find((l) => l.startsWith(`${code}: `));
  assert.ok(line, `expected a ${code} line on stderr, got:\n${result.stderr.slice(-1500)}`);
  for (const text of mentions) assert.ok(line.includes(text), `"${text}" missing from: ${line}`);
  assert.notEqual(result.status, 0);
}

/**
 * A describe block proving a secured set-up end to end: a source (initial snapshot of rows already
 * there, then streaming) and a sink with the given settings, and Elasticsearch equal to MariaDB.
 * `env` is called in `before`, after the enclosing suite's own set-up (a proxy's URL, say).
 */
export function describeSecuredPipeline(title: string, env: () => { source?: Record<string, string>; sink?: Record<string, string> }, alsoCheck?: () => void): void {
  describe(title, () => {
    const pipeline = new Pipeline(uniqueName('cdc_secured'));
    let conn: mysql.Connection;

    before(async () => {
      conn = await pipeline.createDatabase(DDL);
      await runWorkload(conn, 1, 30);
      const { source = {}, sink = {} } = env();
      await pipeline.startSource({ SNAPSHOT_MODE: 'initial', ...source });
      await pipeline.startSink(sink);
    });

    after(async () => {
      await pipeline.stopAll();
      await conn?.end();
    });

    it('snapshots, streams and indexes every row equal to MariaDB', async () => {
      await runWorkload(conn, 1000, 30);
      await waitUntilEqual(
        conn,
        demoChecks((t) => pipeline.indexOf(t)),
      );
      alsoCheck?.();
    });
  });
}

/**
 * `cdc check-source` against the stack (MariaDB, Kafka, registry), with `overrides` replacing any
 * setting: it connects to MariaDB and reads the stored position from Kafka, so it tests both.
 */
export function checkSource(overrides: Record<string, string>) {
  const env = stackEnv();
  return runCli(['check-source'], {
    SOURCE_ID: uniqueName('check'),
    MYSQL_HOST: env.MYSQL_HOST,
    MYSQL_PORT: env.MYSQL_PORT,
    MYSQL_USER: env.MYSQL_USER,
    MYSQL_PASSWORD: env.MYSQL_PASSWORD,
    KAFKA_BROKERS: env.KAFKA_BROKERS,
    SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL,
    ...overrides,
  });
}
