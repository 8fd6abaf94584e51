import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { configReference, loadConfig, redactConfig } from '../../src/config/env.ts';
import { insecureSettings } from '../../src/config/security.ts';
import { sinkSpec } from '../../src/config/sink.ts';
import { replicaServerId, sourceSpec } from '../../src/config/source.ts';

const SECRET = 's3cr3t-value-never-shown';
const base = { SOURCE_ID: 'orders', MYSQL_HOST: 'db', MYSQL_USER: 'cdc', KAFKA_BROKERS: 'k1:9092, k2:9092', SCHEMA_REGISTRY_URL: 'http://registry:8081' };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof CdcError && error.code === 'CONFIG_INVALID');
    return error.details!.problems as string[];
  }
  assert.fail('expected CONFIG_INVALID');
}

describe('configuration', () => {
  it('parses a valid environment with defaults applied', () => {
    const config = loadConfig(sourceSpec, { ...base, TABLE_INCLUDE: 'shop\\.orders,shop\\.line_.*', EXACTLY_ONCE: 'false' });
    assert.deepEqual(config.KAFKA_BROKERS, ['k1:9092', 'k2:9092']);
    assert.equal(config.MYSQL_PORT, 3306);
    assert.equal(config.EXACTLY_ONCE, false);
    assert.ok(config.TABLE_INCLUDE!.some((re) => re.test('shop.line_items')));
    assert.ok(!config.TABLE_INCLUDE!.some((re) => re.test('shop.orders_archive')), 'regexes match whole names');
  });

  it('lists every problem at once', () => {
    const problems = problemsOf(() => loadConfig(sourceSpec, { MYSQL_PORT: 'x', EXACTLY_ONCE: 'maybe', HTTP_PORT: '70000' }));
    for (const name of ['SOURCE_ID', 'MYSQL_HOST', 'MYSQL_USER', 'KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'MYSQL_PORT', 'EXACTLY_ONCE', 'HTTP_PORT']) {
      assert.ok(
        problems.some((p) => p.startsWith(`${name}:`)),
        `${name} reported in ${problems.join(' | ')}`,
      );
    }
  });

  it('parses KEY_COLUMNS and checks rules between variables, listing every broken one', () => {
    const config = loadConfig(sourceSpec, { ...base, KEY_COLUMNS: 'shop.log:ts,seq; shop.tags:name', SIGNAL_TABLE: 'shop.cdc_signal', ON_POSITION_LOST: 'resnapshot' });
    assert.deepEqual(
      [...config.KEY_COLUMNS!],
      [
        ['shop.log', ['ts', 'seq']],
        ['shop.tags', ['name']],
      ],
    );
    assert.match(problemsOf(() => loadConfig(sourceSpec, { ...base, KEY_COLUMNS: 'shop.log' })).join(), /KEY_COLUMNS: "shop.log" is not `db.table:col1,col2`/);
    const problems = problemsOf(() => loadConfig(sourceSpec, { ...base, ON_POSITION_LOST: 'resnapshot', SNAPSHOT_METHOD: 'incremental' }));
    assert.deepEqual(problems.map((p) => p.slice(0, p.indexOf(':'))).sort(), ['ON_POSITION_LOST', 'SNAPSHOT_METHOD']);
  });

  it('needs SCHEMA_REGISTRY_URL only for Avro: the json converter and a sink of json topics run without one', () => {
    const { SCHEMA_REGISTRY_URL: _url, ...withoutRegistry } = base;
    assert.deepEqual(
      problemsOf(() => loadConfig(sourceSpec, withoutRegistry)),
      ['SCHEMA_REGISTRY_URL: is required unless VALUE_CONVERTER=json (not set)'],
    );
    assert.equal(loadConfig(sourceSpec, { ...withoutRegistry, VALUE_CONVERTER: 'json' }).SCHEMA_REGISTRY_URL, undefined);
    assert.equal(loadConfig(sinkSpec, { KAFKA_BROKERS: 'k:9092', ELASTICSEARCH_URL: 'http://es:9200' }).SCHEMA_REGISTRY_URL, undefined);
  });

  it('bounds records and requests: TOPIC_MAX_MESSAGE_BYTES up to 100 MiB, BULK_MAX_BYTES within ELASTICSEARCH_MAX_REQUEST_BYTES', () => {
    const source = loadConfig(sourceSpec, base);
    assert.deepEqual([source.TOPIC_MAX_MESSAGE_BYTES, source.OVERSIZE_RECORDS, source.DLQ_TOPIC], [8 * 1024 * 1024, 'fail', undefined]);
    assert.match(
      problemsOf(() => loadConfig(sourceSpec, { ...base, TOPIC_MAX_MESSAGE_BYTES: String(101 * 1024 * 1024), OVERSIZE_RECORDS: 'skip' })).join('\n'),
      /TOPIC_MAX_MESSAGE_BYTES[\s\S]*OVERSIZE_RECORDS/,
    );
    const sink = { KAFKA_BROKERS: 'k:9092', ELASTICSEARCH_URL: 'http://es:9200' };
    assert.equal(loadConfig(sinkSpec, sink).ELASTICSEARCH_MAX_REQUEST_BYTES, 64 * 1024 * 1024);
    assert.deepEqual(
      problemsOf(() => loadConfig(sinkSpec, { ...sink, BULK_MAX_BYTES: '2000000', ELASTICSEARCH_MAX_REQUEST_BYTES: '1000000' })),
      ['BULK_MAX_BYTES: must not exceed ELASTICSEARCH_MAX_REQUEST_BYTES'],
    );
  });

  it('validates ZERO_DATE_SENTINEL as a real day and defaults zero dates to null', () => {
    const config = loadConfig(sourceSpec, base);
    assert.equal(config.ZERO_DATES, 'null');
    assert.equal(config.ZERO_DATE_SENTINEL, '1970-01-01');
    assert.equal(loadConfig(sourceSpec, { ...base, ZERO_DATES: 'sentinel', ZERO_DATE_SENTINEL: '2000-02-29' }).ZERO_DATE_SENTINEL, '2000-02-29');
    for (const bad of ['1970-1-1', '0000-00-00', '2023-02-29', '2024-13-01', 'yesterday']) {
      assert.match(problemsOf(() => loadConfig(sourceSpec, { ...base, ZERO_DATE_SENTINEL: bad })).join(), /^ZERO_DATE_SENTINEL: must be/, bad);
    }
    assert.match(problemsOf(() => loadConfig(sourceSpec, { ...base, ZERO_DATES: 'zero' })).join(), /^ZERO_DATES:/);
  });

  it('reads secrets from NAME_FILE and never shows them', () => {
    const config = loadConfig(sourceSpec, { ...base, MYSQL_PASSWORD_FILE: '/run/secrets/pw' }, (path) => (path === '/run/secrets/pw' ? `${SECRET}\n` : ''));
    assert.equal(config.MYSQL_PASSWORD, SECRET);
    assert.equal(redactConfig(sourceSpec, config).MYSQL_PASSWORD, '[redacted]');
    const problems = problemsOf(() => loadConfig(sinkSpec, { ELASTICSEARCH_PASSWORD: SECRET, ELASTICSEARCH_PASSWORD_FILE: '/x', ELASTICSEARCH_URL: 'nope' }));
    assert.ok(problems.some((p) => p.startsWith('ELASTICSEARCH_PASSWORD: set either')));
    assert.ok(!problems.join('\n').includes(SECRET));
  });

  it('derives a stable replica server id from SOURCE_ID', () => {
    const a = replicaServerId({ SOURCE_ID: 'orders', MYSQL_SERVER_ID: undefined });
    assert.equal(a, replicaServerId({ SOURCE_ID: 'orders', MYSQL_SERVER_ID: undefined }));
    assert.notEqual(a, replicaServerId({ SOURCE_ID: 'billing', MYSQL_SERVER_ID: undefined }));
    assert.ok(a >= 1_000_000 && a < 2 ** 32);
    assert.equal(replicaServerId({ SOURCE_ID: 'orders', MYSQL_SERVER_ID: 7 }), 7);
  });

  it('documents every variable in the generated reference', () => {
    const reference = configReference('Source', sourceSpec);
    for (const name of Object.keys(sourceSpec)) assert.ok(reference.includes(`\`${name}\``), name);
  });
});

describe('TLS and authentication settings', () => {
  const readable = (path: string) =>
    path.startsWith('/missing')
      ? (() => {
          throw Object.assign(new Error('no'), { code: 'ENOENT' });
        })()
      : 'PEM';

  it('lists every inconsistent security setting at once', () => {
    const problems = problemsOf(() =>
      loadConfig(
        sinkSpec,
        {
          ...base,
          KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
          KAFKA_SSL_CA_FILE: '/missing/ca.pem',
          KAFKA_SSL_KEY_FILE: '/etc/key.pem',
          SCHEMA_REGISTRY_SSL_CA_FILE: '/etc/ca.pem',
          SCHEMA_REGISTRY_USERNAME: 'reg',
          ELASTICSEARCH_URL: 'http://es:9200',
          ELASTICSEARCH_USERNAME: 'elastic',
          ELASTICSEARCH_API_KEY: SECRET,
          ELASTICSEARCH_SSL_INSECURE: 'true',
        },
        readable,
      ),
    );
    const expected = [
      'KAFKA_SASL_MECHANISM: is required when',
      'KAFKA_SASL_USERNAME: is required when',
      'KAFKA_SASL_PASSWORD: is required when',
      'KAFKA_SSL_CA_FILE: cannot read /missing/ca.pem (ENOENT)',
      'KAFKA_SSL_CERT_FILE: is required when KAFKA_SSL_KEY_FILE is set',
      'SCHEMA_REGISTRY_PASSWORD: is required when SCHEMA_REGISTRY_USERNAME is set',
      'SCHEMA_REGISTRY_SSL_CA_FILE: has no effect unless SCHEMA_REGISTRY_URL is https://',
      'ELASTICSEARCH_USERNAME: set either basic auth or ELASTICSEARCH_API_KEY, not both',
      'ELASTICSEARCH_PASSWORD: is required when ELASTICSEARCH_USERNAME is set',
      'ELASTICSEARCH_SSL_INSECURE: has no effect unless ELASTICSEARCH_URL is https://',
    ];
    for (const start of expected)
      assert.ok(
        problems.some((p) => p.startsWith(start)),
        `"${start}…" in:\n${problems.join('\n')}`,
      );
    assert.ok(!problems.join('\n').includes(SECRET), 'no secret value in the problems');
  });

  it('refuses SASL settings on a listener without SASL and MySQL TLS files with MYSQL_SSL_MODE=disabled', () => {
    const problems = problemsOf(() => loadConfig(sourceSpec, { ...base, KAFKA_SASL_MECHANISM: 'PLAIN', KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka', MYSQL_SSL_CA_FILE: '/etc/ca.pem' }, readable));
    assert.ok(
      problems.some((p) => p.startsWith('KAFKA_SASL_MECHANISM: has no effect unless KAFKA_SECURITY_PROTOCOL is SASL_')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('KAFKA_SASL_PASSWORD: has no effect')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('MYSQL_SSL_CA_FILE: has no effect unless MYSQL_SSL_MODE')),
      problems.join('\n'),
    );
  });

  it('accepts a consistent secured configuration, secrets from files, and names each disabled verification', () => {
    const config = loadConfig(
      sourceSpec,
      {
        ...base,
        KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        KAFKA_SASL_USERNAME: 'cdc',
        KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka',
        KAFKA_SSL_INSECURE: 'true',
        MYSQL_SSL_MODE: 'required',
        SCHEMA_REGISTRY_URL: 'https://registry:8081',
        SCHEMA_REGISTRY_SSL_CA_FILE: '/etc/ca.pem',
      },
      (path) => (path === '/run/secrets/kafka' ? `${SECRET}\n` : 'PEM'),
    );
    assert.equal(config.KAFKA_SASL_PASSWORD, SECRET);
    assert.equal(redactConfig(sourceSpec, config).KAFKA_SASL_PASSWORD, '[redacted]');
    const warnings = insecureSettings(config);
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[0]!, /^KAFKA_SSL_INSECURE=true/);
    assert.match(warnings[1]!, /^MYSQL_SSL_MODE=required/);
  });
});
