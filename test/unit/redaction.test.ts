import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { createLogger, errorFields } from '../../src/core/logger.ts';
import { redactUrls } from '../../src/core/url-redaction.ts';
import { statusView, WITHHELD } from '../../src/http/status-view.ts';

/** A logger writing into an array of parsed lines. */
function memoryLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const log = createLogger('debug', 'test', {
    write(text: string) {
      raw.push(text);
      lines.push(JSON.parse(text) as Record<string, unknown>);
    },
  });
  return { log, lines, raw };
}

describe('log redaction', () => {
  it('censors every configured credential path, at the top level and nested', () => {
    const { log, lines, raw } = memoryLogger();
    log.info(
      {
        password: 'pw-top',
        mysql: { password: 'pw-1', ssl: { key: 'ssl-key-1' } },
        conn: { options: { password: 'pw-2' } },
        apiKey: 'api-top',
        es: { apiKey: 'api-1' },
        authorization: 'Bearer top',
        request: { authorization: 'Bearer nested', headers: { authorization: 'Basic header' } },
        auth: { username: 'u', password: 'auth-top' },
        registry: { auth: 'auth-nested' },
        sasl: { mechanism: 'plain', password: 'sasl-top' },
        kafka: { sasl: { password: 'sasl-nested' } },
        ssl: { key: 'ssl-key-top' },
      },
      'connecting',
    );
    const line = lines[0]!;
    assert.equal(line.password, '[redacted]');
    assert.deepEqual(line.mysql, { password: '[redacted]', ssl: { key: '[redacted]' } });
    assert.deepEqual(line.conn, { options: { password: '[redacted]' } });
    assert.equal(line.apiKey, '[redacted]');
    assert.deepEqual(line.es, { apiKey: '[redacted]' });
    assert.equal(line.authorization, '[redacted]');
    assert.deepEqual(line.request, { authorization: '[redacted]', headers: { authorization: '[redacted]' } });
    assert.equal(line.auth, '[redacted]');
    assert.deepEqual(line.registry, { auth: '[redacted]' });
    assert.equal(line.sasl, '[redacted]');
    assert.deepEqual(line.kafka, { sasl: '[redacted]' });
    assert.deepEqual(line.ssl, { key: '[redacted]' });
    for (const secret of ['pw-', 'api-', 'Bearer', 'Basic', 'auth-', 'sasl-', 'ssl-key']) assert.ok(!raw[0]!.includes(secret), `${secret} leaked: ${raw[0]}`);
  });

  it("censors snapshot progress's raw key values wherever the progress is logged", () => {
    const { log, lines, raw } = memoryLogger();
    const current = { table: 'db.t', lastKey: ['raw-key-1'], upTo: ['raw-key-9'], rows: 3 };
    log.info({ tables: ['db.t'], current }, 'incremental snapshot resumed');
    log.info({ lastKey: ['raw-key-2'], upTo: ['raw-key-8'] }, 'chunk');
    log.child({ component: 'snapshot' }).info({ incremental: { current } }, 'progress');
    assert.deepEqual(lines[0]!.current, { table: 'db.t', lastKey: '[redacted]', upTo: '[redacted]', rows: 3 });
    assert.equal(lines[1]!.lastKey, '[redacted]');
    assert.equal(lines[1]!.upTo, '[redacted]');
    assert.deepEqual(lines[2]!.incremental, { current: { table: 'db.t', lastKey: '[redacted]', upTo: '[redacted]', rows: 3 } });
    assert.ok(!raw.join('').includes('raw-key'), raw.join(''));
  });

  it('removes URL credentials from messages, fields, errors and child loggers', () => {
    const { log, lines, raw } = memoryLogger();
    const error = new CdcError('REGISTRY_UNAVAILABLE', 'request to https://reg-user:reg-pass@registry:8081/subjects failed');
    log.warn({ url: 'http://alice:s3cret@es:9200/', list: ['kafka://bob:pw@b1:9092'] }, 'using https://carol:pw2@host/path');
    log.child({ component: 'registry' }).error(errorFields(error), error.message);
    log.error({ err: new Error('GET https://dave:pw3@x/ failed') }, 'plain error');
    assert.equal(lines[0]!.url, 'http://[redacted]@es:9200/');
    assert.deepEqual(lines[0]!.list, ['kafka://[redacted]@b1:9092']);
    assert.equal(lines[0]!.msg, 'using https://[redacted]@host/path');
    assert.equal((lines[1]!.err as { message: string }).message, 'request to https://[redacted]@registry:8081/subjects failed');
    assert.equal(lines[1]!.msg, 'request to https://[redacted]@registry:8081/subjects failed');
    for (const secret of ['s3cret', 'pw2', 'reg-pass', 'alice', 'bob:pw', 'pw3']) assert.ok(!raw.join('').includes(secret), `${secret} leaked`);
  });

  it('leaves URLs without credentials and e-mail addresses alone', () => {
    assert.equal(redactUrls('https://es:9200/_bulk?x=a@b'), 'https://es:9200/_bulk?x=a@b');
    assert.equal(redactUrls('mail ops@example.com'), 'mail ops@example.com');
    assert.equal(redactUrls('https://token@host/'), 'https://[redacted]@host/');
  });
});

describe('status view', () => {
  const status = {
    service: 'source',
    incrementalSnapshot: { tables: ['db.t'], done: [], current: { table: 'db.t', lastKey: ['raw-1'], upTo: ['raw-9'], rows: 2 } },
    snapshot: null,
    lastError: { code: 'DOCUMENT_REJECTED', message: 'failed to parse field [email] value [x@y]', hint: 'Fix the mapping.', details: { id: 'raw-1' } },
    config: { SCHEMA_REGISTRY_URL: 'https://u:p@registry/', ELASTICSEARCH_URL: 'https://es:9200/' },
    position: 123n,
  };

  it('withholds raw keys and error text in summary, keeps codes, hints and counts', () => {
    const view = statusView(status, 'summary') as typeof status;
    assert.deepEqual(view.incrementalSnapshot.current, { table: 'db.t', lastKey: WITHHELD, upTo: WITHHELD, rows: 2 });
    assert.deepEqual(view.lastError, { code: 'DOCUMENT_REJECTED', message: WITHHELD, hint: 'Fix the mapping.', details: WITHHELD });
    assert.equal(view.config.SCHEMA_REGISTRY_URL, 'https://[redacted]@registry/');
    assert.equal(view.config.ELASTICSEARCH_URL, 'https://es:9200/');
    assert.equal(view.position, 123n);
    assert.equal(view.snapshot, null);
  });

  it('shows them with STATUS_DETAIL=full, URLs still without credentials', () => {
    const view = statusView(status, 'full') as typeof status;
    assert.deepEqual(view.incrementalSnapshot.current.lastKey, ['raw-1']);
    assert.equal(view.lastError.message, status.lastError.message);
    assert.equal(view.config.SCHEMA_REGISTRY_URL, 'https://[redacted]@registry/');
  });
});
