import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WRONG_PASSWORD, assertCodedFailure, checkSource, describeSecuredPipeline, kafkaSecurityEnv, x509User, type KafkaListener, type SaslMechanism } from '../helpers/security.ts';
import { stackEnv } from '../helpers/stack.ts';

describe("Kafka over SSL and SASL (PLAIN, SCRAM-SHA-512) against the broker's secured listeners", () => {
  const combinations: Array<[KafkaListener, SaslMechanism?]> = [
    ['SSL'],
    ['MTLS'],
    ['SASL_PLAINTEXT', 'PLAIN'],
    ['SASL_PLAINTEXT', 'SCRAM-SHA-512'],
    ['SASL_SSL', 'PLAIN'],
    ['SASL_SSL', 'SCRAM-SHA-512'],
  ];
  for (const [protocol, mechanism] of combinations) {
    it(`connects with ${protocol}${mechanism ? ` ${mechanism}` : ''}`, async () => {
      const result = await checkSource(kafkaSecurityEnv(protocol, mechanism));
      assert.equal(result.status, 0, result.stderr.slice(-1500));
      assert.equal(JSON.parse(result.stdout.slice(result.stdout.indexOf('{\n'))).ok, true);
    });
  }

  for (const mechanism of ['PLAIN', 'SCRAM-SHA-512'] as const) {
    it(`a wrong ${mechanism} password is AUTH_FAILED naming Kafka and the SASL settings`, async () => {
      const result = await checkSource({ ...kafkaSecurityEnv('SASL_SSL', mechanism), KAFKA_SASL_PASSWORD: WRONG_PASSWORD });
      assertCodedFailure(result, 'AUTH_FAILED', 'Kafka', 'KAFKA_SASL_PASSWORD');
    });
  }

  it('mutual TLS without a client certificate is AUTH_FAILED naming Kafka and KAFKA_SSL_CERT_FILE', async () => {
    const { KAFKA_SSL_CERT_FILE: _cert, KAFKA_SSL_KEY_FILE: _key, ...withoutCertificate } = kafkaSecurityEnv('MTLS');
    assertCodedFailure(await checkSource(withoutCertificate), 'AUTH_FAILED', 'Kafka', 'KAFKA_SSL_CERT_FILE', 'client certificate');
  });

  it('mutual TLS with a client certificate of a CA the broker does not trust is AUTH_FAILED naming Kafka and KAFKA_SSL_CERT_FILE', async () => {
    const env = stackEnv();
    const result = await checkSource({ ...kafkaSecurityEnv('MTLS'), KAFKA_SSL_CERT_FILE: env.CDC_TLS_OTHER_CLIENT_CERT_FILE, KAFKA_SSL_KEY_FILE: env.CDC_TLS_OTHER_CLIENT_KEY_FILE });
    assertCodedFailure(result, 'AUTH_FAILED', 'Kafka', 'KAFKA_SSL_CERT_FILE', 'does not trust the client certificate');
  });

  it('an unknown CA is TLS_CERT_INVALID naming Kafka and KAFKA_SSL_CA_FILE', async () => {
    const result = await checkSource({ ...kafkaSecurityEnv('SSL'), KAFKA_SSL_CA_FILE: stackEnv().CDC_TLS_OTHER_CA_FILE });
    assertCodedFailure(result, 'TLS_CERT_INVALID', 'Kafka', 'KAFKA_SSL_CA_FILE', 'not signed by a trusted CA');
  });

  it('an expired broker certificate is TLS_CERT_INVALID naming Kafka and KAFKA_SSL_CA_FILE', async () => {
    const result = await checkSource({ ...kafkaSecurityEnv('SSL'), KAFKA_BROKERS: stackEnv().CDC_KAFKA_EXPIRED_BROKERS });
    assertCodedFailure(result, 'TLS_CERT_INVALID', 'Kafka', 'KAFKA_SSL_CA_FILE', 'expired');
  });

  it('connects to the expired certificate only with KAFKA_SSL_INSECURE=true, and says so in a warning', async () => {
    const result = await checkSource({ ...kafkaSecurityEnv('SSL'), KAFKA_BROKERS: stackEnv().CDC_KAFKA_EXPIRED_BROKERS, KAFKA_SSL_INSECURE: 'true' });
    assert.equal(result.status, 0, result.stderr.slice(-1500));
    const warning = result.stdout.split('\n').find((l) => l.includes('"insecure":true'));
    assert.ok(warning && /"level":"warn"/.test(warning) && warning.includes('KAFKA_SSL_INSECURE=true'), `no warning in:\n${result.stdout.slice(0, 1500)}`);
  });

  describeSecuredPipeline('a pipeline with mutual TLS everywhere it exists: source and sink present client certificates to Kafka, the source to MariaDB (REQUIRE X509 user)', () => ({
    source: { ...kafkaSecurityEnv('MTLS'), ...x509User() },
    sink: kafkaSecurityEnv('MTLS'),
  }));

  describeSecuredPipeline('a pipeline with the source on SASL_SSL SCRAM-SHA-512 and the sink on SASL_PLAINTEXT PLAIN', () => ({
    source: kafkaSecurityEnv('SASL_SSL', 'SCRAM-SHA-512'),
    sink: kafkaSecurityEnv('SASL_PLAINTEXT', 'PLAIN'),
  }));
});
