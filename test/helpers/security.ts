import assert from 'node:assert/strict';
import { recordSecret } from './capture.ts';
import { stackEnv } from './stack.ts';

/** The wrong password the security suites try; a secret too: printing a refused password leaks it. */
export const WRONG_PASSWORD = recordSecret('wrong-password-for-the-leak-check');

export type KafkaListener = 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
export type SaslMechanism = 'PLAIN' | 'SCRAM-SHA-512';

/** Client settings for one of the test broker's secured listeners, with the right credentials. */
export function kafkaSecurityEnv(protocol: KafkaListener, mechanism?: SaslMechanism): Record<string, string> {
  const env = stackEnv();
  const brokers = { SSL: env.CDC_KAFKA_SSL_BROKERS, SASL_PLAINTEXT: env.CDC_KAFKA_SASL_BROKERS, SASL_SSL: env.CDC_KAFKA_SASL_SSL_BROKERS }[protocol];
  return {
    KAFKA_BROKERS: brokers,
    KAFKA_SECURITY_PROTOCOL: protocol,
    ...(protocol.endsWith('SSL') ? { KAFKA_SSL_CA_FILE: env.CDC_TLS_CA_FILE } : {}),
    ...(mechanism === 'PLAIN' ? { KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_USERNAME: env.CDC_KAFKA_PLAIN_USER, KAFKA_SASL_PASSWORD: env.CDC_KAFKA_PLAIN_PASSWORD } : {}),
    ...(mechanism === 'SCRAM-SHA-512'
      ? { KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_SASL_USERNAME: env.CDC_KAFKA_SCRAM_USER, KAFKA_SASL_PASSWORD: env.CDC_KAFKA_SCRAM_PASSWORD }
      : {}),
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
