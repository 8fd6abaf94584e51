import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authError, certificateError, certificateProblem, clientCertificateRefusal } from '../../src/core/tls.ts';

describe('TLS and authentication errors', () => {
  it('recognises certificate failures by code, by message (kafkajs keeps only that) and down the cause chain', () => {
    assert.equal(certificateProblem(Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' })), 'its certificate has expired');
    assert.equal(certificateProblem(new Error('Connection error: self-signed certificate in certificate chain')), 'its certificate is not signed by a trusted CA');
    assert.equal(certificateProblem(new Error('retries exceeded', { cause: new Error('Connection error: unable to verify the first certificate') })), 'its certificate is not signed by a trusted CA');
    assert.equal(
      certificateProblem(Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })),
      'its certificate does not name the host connected to',
    );
    assert.equal(certificateProblem(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), undefined);
  });

  it('codes them TLS_CERT_INVALID and AUTH_FAILED, not retriable, naming the service and the setting', () => {
    const tls = certificateError(Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }), 'Kafka', 'KAFKA_SSL_CA_FILE')!;
    assert.equal(tls.code, 'TLS_CERT_INVALID');
    assert.equal(tls.retriable, false);
    assert.match(tls.describe(), /^TLS_CERT_INVALID: Kafka .*KAFKA_SSL_CA_FILE.*expired/);
    const auth = authError(new Error('denied'), 'Elasticsearch', 'ELASTICSEARCH_PASSWORD');
    assert.equal(auth.code, 'AUTH_FAILED');
    assert.equal(auth.retriable, false);
    assert.match(auth.describe(), /^AUTH_FAILED: Elasticsearch .*ELASTICSEARCH_PASSWORD/);
  });

  it('reads the alert a server sends when it refuses the client certificate (mutual TLS) as AUTH_FAILED naming the certificate settings', () => {
    const alert = (text: string) => new Error('retries exceeded', { cause: new Error(`Connection error: 40:error:0A000412:SSL routines:ssl3_read_bytes:${text}`) });
    const settings = 'KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE';
    assert.match(clientCertificateRefusal(alert('ssl/tls alert bad certificate:…:SSL alert number 42'), 'Kafka', settings)!.describe(), /^AUTH_FAILED: Kafka .*KAFKA_SSL_CERT_FILE.*none was sent/);
    assert.match(clientCertificateRefusal(alert('tlsv1 alert unknown ca:…:SSL alert number 48'), 'Kafka', settings)!.message, /does not trust the CA/);
    assert.match(clientCertificateRefusal(alert('tlsv13 alert certificate required:…:SSL alert number 116'), 'Kafka', settings)!.message, /requires a client certificate/);
    assert.equal(clientCertificateRefusal(new Error('connect ECONNREFUSED'), 'Kafka', settings), undefined);
  });
});
