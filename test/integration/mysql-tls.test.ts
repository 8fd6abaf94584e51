import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { rootConnection } from '../helpers/mysql.ts';
import { WRONG_PASSWORD, assertCodedFailure, checkSource, describeSecuredPipeline, x509User } from '../helpers/security.ts';
import { stackEnv } from '../helpers/stack.ts';

/** The stack's REQUIRE SSL user: it cannot log in without TLS, so a success proves TLS was used. */
function tlsUser(mode: string, caFile = stackEnv().CDC_TLS_CA_FILE): Record<string, string> {
  const env = stackEnv();
  return { MYSQL_USER: env.CDC_MYSQL_TLS_USER, MYSQL_PASSWORD: env.CDC_MYSQL_TLS_PASSWORD, MYSQL_SSL_MODE: mode, ...(mode === 'disabled' ? {} : { MYSQL_SSL_CA_FILE: caFile }) };
}

describe('MariaDB over TLS (MYSQL_SSL_MODE) against the server configured with ssl-ca/ssl-cert/ssl-key', () => {
  for (const mode of ['verify_ca', 'verify_identity']) {
    it(`connects with MYSQL_SSL_MODE=${mode} as a user that requires SSL`, async () => {
      const result = await checkSource(tlsUser(mode));
      assert.equal(result.status, 0, result.stderr.slice(-1500));
    });
  }

  it('without TLS that user is refused: AUTH_FAILED naming MySQL/MariaDB and the settings', async () => {
    assertCodedFailure(await checkSource(tlsUser('disabled')), 'AUTH_FAILED', 'MySQL/MariaDB', 'MYSQL_PASSWORD', 'MYSQL_SSL_MODE');
  });

  it('a wrong password is AUTH_FAILED naming MySQL/MariaDB and MYSQL_PASSWORD', async () => {
    assertCodedFailure(await checkSource({ ...tlsUser('verify_identity'), MYSQL_PASSWORD: WRONG_PASSWORD }), 'AUTH_FAILED', 'MySQL/MariaDB', 'MYSQL_PASSWORD');
  });

  it('an unknown CA is TLS_CERT_INVALID naming MySQL/MariaDB and MYSQL_SSL_CA_FILE', async () => {
    assertCodedFailure(await checkSource(tlsUser('verify_ca', stackEnv().CDC_TLS_OTHER_CA_FILE)), 'TLS_CERT_INVALID', 'MySQL/MariaDB', 'MYSQL_SSL_CA_FILE', 'not signed by a trusted CA');
  });

  it('connects with a client certificate as a passwordless REQUIRE X509 user (mutual TLS)', async () => {
    const result = await checkSource(x509User());
    assert.equal(result.status, 0, result.stderr.slice(-1500));
  });

  it('that user without a client certificate is AUTH_FAILED naming MySQL/MariaDB and MYSQL_SSL_CERT_FILE', async () => {
    assertCodedFailure(await checkSource(x509User('none')), 'AUTH_FAILED', 'MySQL/MariaDB', 'MYSQL_SSL_CERT_FILE');
  });

  it('a client certificate of a CA the server does not trust is AUTH_FAILED naming MySQL/MariaDB and MYSQL_SSL_CERT_FILE', async () => {
    assertCodedFailure(await checkSource(x509User('other CA')), 'AUTH_FAILED', 'MySQL/MariaDB', 'MYSQL_SSL_CERT_FILE', 'does not trust the CA');
  });

  it('MYSQL_SSL_MODE=required encrypts without verifying (an unknown CA passes) and warns', async () => {
    const result = await checkSource(tlsUser('required', stackEnv().CDC_TLS_OTHER_CA_FILE));
    assert.equal(result.status, 0, result.stderr.slice(-1500));
    assert.ok(
      result.stdout.split('\n').some((l) => l.includes('"insecure":true') && l.includes('MYSQL_SSL_MODE=required')),
      result.stdout.slice(0, 1500),
    );
  });

  it('an expired server certificate is TLS_CERT_INVALID naming MySQL/MariaDB and MYSQL_SSL_CA_FILE', async () => {
    const env = stackEnv();
    const root = await rootConnection();
    const valid = { cert: `${env.CDC_MYSQL_CERT_FILE}.valid`, key: `${env.CDC_MYSQL_KEY_FILE}.valid` };
    copyFileSync(env.CDC_MYSQL_CERT_FILE, valid.cert);
    copyFileSync(env.CDC_MYSQL_KEY_FILE, valid.key);
    try {
      // MariaDB reloads its certificate files on FLUSH SSL: the real server presents an expired certificate.
      copyFileSync(env.CDC_TLS_EXPIRED_CERT_FILE, env.CDC_MYSQL_CERT_FILE);
      copyFileSync(env.CDC_TLS_EXPIRED_KEY_FILE, env.CDC_MYSQL_KEY_FILE);
      await root.query('FLUSH SSL');
      assertCodedFailure(await checkSource(tlsUser('verify_identity')), 'TLS_CERT_INVALID', 'MySQL/MariaDB', 'MYSQL_SSL_CA_FILE', 'expired');
    } finally {
      copyFileSync(valid.cert, env.CDC_MYSQL_CERT_FILE);
      copyFileSync(valid.key, env.CDC_MYSQL_KEY_FILE);
      await root.query('FLUSH SSL');
      await root.end();
    }
    assert.equal((await checkSource(tlsUser('verify_identity'))).status, 0, 'the valid certificate is served again');
  });

  describeSecuredPipeline('a pipeline whose snapshot and binlog connections both require TLS', () => ({ source: tlsUser('verify_identity') }));
});
