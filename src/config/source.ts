import { createHash } from 'node:crypto';
import { z } from 'zod';
import { adminSpec } from './admin.ts';
import { commonSpec, deadLetterTopicVar, maxMessageBytesVar, optionalRegistryUrl } from './common.ts';
import { sourceHeapSpec } from './heap.ts';
import { mysqlSecuritySpec } from './security.ts';
import { KAFKA_COMPRESSIONS } from '../core/kafka-compressions.ts';
import { envVar, type ConfigOf } from './env.ts';
import { bool, int, keyColumns, qualifiedTable, regexList, text } from '../core/env-values.ts';
import { transformsVar } from './transforms.ts';

export const sourceSpec = {
  ...commonSpec,
  ...sourceHeapSpec,
  SCHEMA_REGISTRY_URL: optionalRegistryUrl('Not needed with VALUE_CONVERTER=json.', { requiredUnless: { variable: 'VALUE_CONVERTER', value: 'json' } }),
  SOURCE_ID: envVar(
    text().regex(/^[A-Za-z0-9._-]+$/, 'may contain only letters, digits, ., _ and -'),
    'Identity of this source: Kafka transactional id (a second instance with the same id fences the first) and key of its stored position.',
  ),
  MYSQL_HOST: envVar(text(), 'MySQL/MariaDB host.'),
  MYSQL_PORT: envVar(int(1, 65535).default(3306), 'MySQL/MariaDB port.', { default: '3306' }),
  MYSQL_USER: envVar(text(), 'User with REPLICATION SLAVE, REPLICATION CLIENT (BINLOG MONITOR) and SELECT.'),
  MYSQL_PASSWORD: envVar(z.string().optional(), 'Password of MYSQL_USER.', { secret: true }),
  ...mysqlSecuritySpec,
  MYSQL_SERVER_ID: envVar(int(1, 2 ** 32 - 1).optional(), 'Replica server id this reader presents; must differ from every server and other reader. Default: derived from SOURCE_ID.', {
    default: 'hash of SOURCE_ID',
  }),
  DATABASE_INCLUDE: envVar(regexList().optional(), 'Comma-separated regular expressions; only matching databases are captured (full match, like every list below).'),
  DATABASE_EXCLUDE: envVar(regexList().optional(), 'Comma-separated regular expressions; matching databases are never captured.'),
  TABLE_INCLUDE: envVar(regexList().optional(), 'Comma-separated regular expressions over `database.table`; only matching tables are captured.'),
  TABLE_EXCLUDE: envVar(regexList().optional(), 'Comma-separated regular expressions over `database.table`; matching tables are never captured.'),
  COLUMN_INCLUDE: envVar(
    regexList().optional(),
    'Comma-separated regular expressions over `database.table.column`; only matching columns (and always the key columns) are captured. Applied before schemas are derived: other columns reach neither Kafka nor the registry.',
  ),
  COLUMN_EXCLUDE: envVar(regexList().optional(), 'Comma-separated regular expressions over `database.table.column`; matching columns are never captured (a key column cannot be excluded: hash it).'),
  COLUMN_HASH: envVar(
    regexList().optional(),
    'Comma-separated regular expressions over `database.table.column`; matching columns carry the hex HMAC-SHA-256 of their value keyed with COLUMN_HASH_SALT (an Avro string). Key columns may be hashed.',
    { requires: 'COLUMN_HASH_SALT' },
  ),
  COLUMN_HASH_SALT: envVar(text().optional(), 'Secret key of COLUMN_HASH: without it nobody can recompute a hash from a guessed value.', { secret: true }),
  COLUMN_MASK: envVar(
    regexList().optional(),
    'Comma-separated regular expressions over `database.table.column`; non-null values of matching columns are replaced by COLUMN_MASK_VALUE (an Avro string).',
  ),
  COLUMN_MASK_VALUE: envVar(z.string().default('****'), 'The text masked columns carry.', { default: '****' }),
  COLUMN_TRUNCATE: envVar(
    regexList().optional(),
    'Comma-separated regular expressions over `database.table.column`; matching string (binary) columns are cut to COLUMN_TRUNCATE_CHARS characters (bytes).',
    { requires: 'COLUMN_TRUNCATE_CHARS' },
  ),
  COLUMN_TRUNCATE_CHARS: envVar(int(0).optional(), 'Length COLUMN_TRUNCATE cuts to.'),
  TRANSFORMS: transformsVar('source'),
  START_POSITION: envVar(
    z.enum(['earliest', 'latest']).default('earliest'),
    'Where a source without a stored position starts: the `earliest` binlog still on the server, or `latest`: the end of the binlog at its first start, stored at once, so a restart before the first change resumes there and skips nothing.',
    { default: 'earliest' },
  ),
  SNAPSHOT_MODE: envVar(
    z.enum(['initial', 'never', 'when_needed', 'initial_only']).default('initial'),
    "`initial`: without a stored position, snapshot the captured tables (lock-free, resumable) and then stream from the snapshot's position; `never`: stream from START_POSITION; `when_needed`: like initial, and also re-snapshot instead of failing when the stored position is no longer on the server (purged, or the binlog started again: README, Versions); `initial_only`: snapshot, then exit.",
    { default: 'initial' },
  ),
  SNAPSHOT_METHOD: envVar(
    z.enum(['auto', 'read_view', 'incremental']).default('auto'),
    'How the initial snapshot reads: `read_view`: one consistent read view pinned to a binlog position (MariaDB only, chunked and resumable); `incremental`: stream from the end of the binlog and snapshot every captured table with incremental-snapshot watermarks (needs SIGNAL_TABLE; the lock-free way on MySQL 8); `auto`: read_view on MariaDB, incremental on MySQL.',
    {
      default: 'auto',
      check: (c) =>
        c.SNAPSHOT_METHOD !== 'incremental'
          ? undefined
          : !c.SIGNAL_TABLE
            ? '`incremental` needs SIGNAL_TABLE (incremental snapshots write their watermarks there)'
            : c.SNAPSHOT_MODE === 'initial_only'
              ? '`incremental` streams while it runs, so SNAPSHOT_MODE=initial_only cannot stop after it'
              : undefined,
    },
  ),
  SNAPSHOT_CHUNK_ROWS: envVar(int(1, 1_000_000).default(5000), 'Most rows per snapshot chunk: one Kafka transaction, and at most what a restart reads again per table.', { default: '5000' }),
  SNAPSHOT_CHUNK_BYTES: envVar(
    int(1024).default(8 * 1024 * 1024),
    'Bound of a snapshot chunk (initial and incremental) and of a snapshot Kafka transaction, in estimated bytes of its rows (their values plus 512 bytes a row): a chunk stops taking rows once they reach it (one row past it at most, so a single larger row passes alone), and the next chunk asks for about as many rows as fitted. The initial snapshot holds up to three chunks with their encoded records (one batch committing, the next encoded, one read): with the default, rows of ordinary size keep the source within the 256 MiB RSS of MAX_HEAP_MB\'s default (docs/operations.md, "Source memory").',
    { default: '8388608' },
  ),
  KEY_COLUMNS: envVar(
    keyColumns().optional(),
    "Key columns per table, `db.table:col1,col2;db.other:col` (Debezium's message.key.columns): they replace the primary key as Kafka key, Elasticsearch id and snapshot order, and give keyless tables a key. They must identify a row uniquely. Without it a keyless table uses its first unique index over NOT NULL columns.",
  ),
  ZERO_DATES: envVar(
    z.enum(['null', 'sentinel']).default('null'),
    'What zero and partial dates (`0000-00-00`, `2024-00-10`, `0000-00-00 00:00:00`) in DATE, DATETIME and TIMESTAMP columns become: `null`, or ZERO_DATE_SENTINEL (DATETIME: that day at 00:00:00.000000, TIMESTAMP: that instant in UTC). Key columns always get the sentinel: a key is never null.',
    { default: 'null' },
  ),
  ZERO_DATE_SENTINEL: envVar(
    text()
      .regex(/^\d{4}-\d\d-\d\d$/, 'must be a date YYYY-MM-DD')
      .refine(validDay, 'must be a real day between 0001-01-01 and 9999-12-31 (no zero month or day, no 02-30)')
      .default('1970-01-01'),
    'The day zero and partial dates become where they get a sentinel (see ZERO_DATES).',
    { default: '1970-01-01' },
  ),
  SIGNAL_TABLE: envVar(
    qualifiedTable().optional(),
    'Signal table `db.table` (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32), data TEXT) for incremental snapshots: a row `execute-snapshot` requests one (`cdc snapshot --tables`), and the source writes its chunk watermarks there. MYSQL_USER needs INSERT and DELETE on it.',
  ),
  INCREMENTAL_CHUNK_ROWS: envVar(
    int(1, 100_000).default(1024),
    'Most rows per incremental snapshot chunk (SNAPSHOT_CHUNK_BYTES bounds its bytes): read between two watermarks while streaming goes on.',
    { default: '1024' },
  ),
  ON_POSITION_LOST: envVar(
    z.enum(['fail', 'resnapshot']).default('fail'),
    'When the stored position is no longer on the server (purged, or the binlog started again: README, Versions): `fail` with SOURCE_POSITION_PURGED, or `resnapshot`: stream from the current end of the binlog and re-snapshot every captured table incrementally (needs SIGNAL_TABLE). Deletes made while the position was lost are not seen either way.',
    { default: 'fail', check: (c) => (c.ON_POSITION_LOST === 'resnapshot' && !c.SIGNAL_TABLE ? '`resnapshot` needs SIGNAL_TABLE (incremental snapshots write their watermarks there)' : undefined) },
  ),
  RESUME_BY: envVar(
    z.enum(['gtid', 'file']).default('gtid'),
    'How a restart resumes: by the stored GTID set (survives failover within a replication topology, in a new binlog epoch) or by binlog file and position.',
    {
      default: 'gtid',
    },
  ),
  SCHEMA_COMPATIBILITY: envVar(
    z.enum(['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE']).default('BACKWARD'),
    'Compatibility level the source sets on each subject it creates (an existing subject keeps its level, which an operator may have changed).',
    { default: 'BACKWARD' },
  ),
  VALUE_CONVERTER: envVar(
    z.enum(['avro', 'json']).default('avro'),
    '`avro`: Confluent-framed Avro, schemas registered in SCHEMA_REGISTRY_URL (with Kafka Connect\'s `connect.*` annotations). `json`: Kafka Connect\'s JsonConverter format (`schemas.enable=true`: `{"schema": <Connect schema>, "payload": <record>}` with Debezium\'s type names), no registry needed by consumers. The sink reads either (see docs/debezium.md).',
    { default: 'avro' },
  ),
  SCHEMA_RETRY_INTERVAL_MS: envVar(
    int(100, 3_600_000).default(30_000),
    'While paused on SCHEMA_INCOMPATIBLE (the source holds its position, stays alive and unready), how often it tries to register the new schema again.',
    { default: '30000' },
  ),
  EXACTLY_ONCE: envVar(
    bool().default(true),
    'Write events and the position in one Kafka transaction (exactly once into Kafka, fencing by SOURCE_ID). `false`: a plain idempotent producer, events before the position: at-least-once, no fencing.',
    { default: 'true' },
  ),
  TOMBSTONES_ON_DELETE: envVar(bool().default(true), 'Write a tombstone (same key, null value) after each delete, so log compaction can drop the key.', { default: 'true' }),
  TRANSACTION_METADATA: envVar(
    bool().default(false),
    'Add a `transaction` block (id, total order, per-table order) to every event and write BEGIN/END records with event counts to `<TOPIC_PREFIX>.transactions`.',
    { default: 'false' },
  ),
  HEARTBEAT_INTERVAL_MS: envVar(
    int(0, 3_600_000).default(10_000),
    'While no captured table changes, commit the current position with a record on `<TOPIC_PREFIX>.heartbeats` this often (0: only move the position, no heartbeat records).',
    { default: '10000' },
  ),
  HEARTBEAT_QUERY: envVar(text().optional(), 'Statement run on the source at every heartbeat, to create binlog traffic on otherwise idle servers (e.g. an UPDATE of a heartbeat table).'),
  RETENTION_WARN_SECONDS: envVar(
    int(0).default(3600),
    "Warn (once, until it clears) when the server's automatic binlog expiry by age (`binlog_expire_logs_seconds` / `expire_logs_days`) could purge the stored position within this many seconds. A server that never expires binlogs by itself gives no warning.",
    { default: '3600' },
  ),
  RETENTION_WARN_BYTES: envVar(
    int(0).default(64 * 1024 * 1024),
    "Warn (once, until it clears) when the server's binlog size limit (`max_binlog_total_size`, MariaDB 11.4+) could purge the stored position after fewer than this many more binlog bytes.",
    {
      default: '67108864',
    },
  ),
  RETENTION_CHECK_INTERVAL_MS: envVar(
    int(1000, 86_400_000).default(60_000),
    'How often the stored position is compared with the binlogs still on the server (headroom metrics, purge warnings, SOURCE_POSITION_PURGED).',
    {
      default: '60000',
    },
  ),
  KAFKA_COMPRESSION: envVar(
    z.enum(KAFKA_COMPRESSIONS).default('none'),
    "Codec of the record batches the source writes: `none`, `gzip`, `snappy`, `lz4` or `zstd` (zstd through Node's own zlib; all are pure JavaScript, and every codec is decoded by the sink whatever this says).",
    { default: 'none' },
  ),
  TOPIC_PARTITIONS: envVar(int(1, 10_000).default(1), 'Partitions of the per-table topics the source creates.', { default: '1' }),
  TOPIC_REPLICATION_FACTOR: envVar(int(-1, 100).default(-1), 'Replication factor of topics the source creates (-1: broker default).', { default: '-1' }),
  TOPIC_MAX_MESSAGE_BYTES: maxMessageBytesVar(
    "`max.message.bytes` of the topics the source writes (set on those it creates, raised on existing ones below it) and the bound of one record's key and value plus framing, checked before producing (OVERSIZE_RECORDS says what happens above it). Kafka's own default is 1 MiB; 8 MiB admits large TEXT/BLOB/JSON rows while one record still fits the default TXN_MAX_BYTES, QUEUE_MAX_BYTES and the sink's BULK_MAX_BYTES (a sink fetch returns a larger record batch whole). At most 100 MiB (the broker's `socket.request.max.bytes`). Sizes are counted uncompressed, whatever KAFKA_COMPRESSION says.",
  ),
  OVERSIZE_RECORDS: envVar(
    z.enum(['fail', 'dead-letter']).default('fail'),
    '`fail`: a change whose record exceeds TOPIC_MAX_MESSAGE_BYTES stops the source with RECORD_TOO_LARGE before anything of its Kafka transaction is written (a restart stops again until the limit is raised). `dead-letter`: an update or delete that fits without its `before` image is written so; otherwise its key, position and sizes (no row content) go to DLQ_TOPIC in the same Kafka transaction; both counted in cdc_source_oversize_records_total, and the source goes on. A dead-lettered insert has no document and a dead-lettered update leaves the document at its previous version (README, "Oversize rows").',
    { default: 'fail' },
  ),
  DLQ_TOPIC: deadLetterTopicVar("Dead-letter topic of OVERSIZE_RECORDS=dead-letter (the sink's dead-letter topic by default, with the same `__connect.errors.*` headers)."),
  TXN_MAX_EVENTS: envVar(
    int(1).default(20_000),
    'Most row changes (with transaction boundaries) per Kafka transaction. A larger binlog transaction is split across several; the stored position then resumes inside it (`event`).',
    { default: '20000' },
  ),
  TXN_MAX_BYTES: envVar(int(1024).default(16 * 1024 * 1024), 'Most encoded bytes grouped into one Kafka transaction.', { default: '16777216' }),
  TXN_LINGER_MS: envVar(int(0, 60_000).default(50), 'How long to wait for more binlog transactions before committing a Kafka transaction.', { default: '50' }),
  QUEUE_MAX_BYTES: envVar(
    int(1024).default(16 * 1024 * 1024),
    'Bound of the queue between binlog reader and dispatcher, in bytes (each change counts its share of the binlog event plus an estimate of its size in memory); the reader pauses before it could pass it, whatever the transaction size. MAX_HEAP_MB sizes the heap for the default (docs/operations.md, "Source memory").',
    { default: '16777216' },
  ),
  ...adminSpec,
};

export type SourceConfig = ConfigOf<typeof sourceSpec>;

/** A calendar day that exists (Avro `date` and Elasticsearch `strict_date` hold it). */
function validDay(day: string): boolean {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(y, m - 1, d);
  return y >= 1 && date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** A stable server id per SOURCE_ID, far from the small ids servers usually take. */
export function replicaServerId(config: Pick<SourceConfig, 'MYSQL_SERVER_ID' | 'SOURCE_ID'>): number {
  if (config.MYSQL_SERVER_ID !== undefined) return config.MYSQL_SERVER_ID;
  return 1_000_000 + (createHash('sha256').update(config.SOURCE_ID).digest().readUInt32BE(0) % 1_000_000_000);
}

/** Server id of the short connection that reads binlog start times: outside every derived reader id. */
export function probeServerId(config: Pick<SourceConfig, 'MYSQL_SERVER_ID' | 'SOURCE_ID'>): number {
  return (replicaServerId(config) + 2_000_000_000) % 2 ** 32;
}

/** Server id of `cdc replay`'s reader, which runs beside the live source: neither its nor the probe's. */
export function replayServerId(config: Pick<SourceConfig, 'MYSQL_SERVER_ID' | 'SOURCE_ID'>): number {
  return (replicaServerId(config) + 1_000_000_000) % 2 ** 32;
}
