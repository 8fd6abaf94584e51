import { z } from 'zod';
import { adminSpec } from './admin.ts';
import { commonSpec, deadLetterTopicVar, maxMessageBytesVar, optionalRegistryUrl } from './common.ts';
import { elasticsearchSecuritySpec } from './security.ts';
import { envVar, type ConfigOf } from './env.ts';
import { bool, int, list, regexList, text, url } from '../core/env-values.ts';
import { transformsVar } from './transforms.ts';

/** Change metadata a document can carry besides the row image (DOCUMENT_METADATA). */
export const METADATA_FIELDS = ['op', 'ts_ms', 'position', 'gtid', 'version', 'key'] as const;

export const sinkSpec = {
  ...commonSpec,
  SCHEMA_REGISTRY_URL: optionalRegistryUrl(
    'May be left unset when every consumed topic holds VALUE_CONVERTER=json records: a Confluent Avro record then stops the sink with CONFIG_INVALID before anything of it is indexed or dead-lettered.',
  ),
  SINK_GROUP_ID: envVar(text().default('cdc-sink'), "Kafka consumer group of the sink; its committed offsets are the sink's position.", { default: 'cdc-sink' }),
  SINK_TOPICS: envVar(regexList().optional(), 'Comma-separated regular expressions of topics to consume. Default: every `<TOPIC_PREFIX>.<database>.<table>` topic.', {
    default: '<TOPIC_PREFIX>\\.[^.]+\\.[^.]+',
  }),
  SINK_SESSION_TIMEOUT_MS: envVar(
    int(6000, 300_000).default(30_000),
    'Consumer group session timeout: how long a sink that died without leaving keeps its partitions before the others take them over.',
    { default: '30000' },
  ),
  TOPIC_REFRESH_MS: envVar(int(1000).default(10_000), 'How often the sink looks for new matching topics.', { default: '10000' }),
  TOPIC_PICKUP_MAX_DELAY_MS: envVar(
    int(0, 600_000).default(30_000),
    'How long new matching topics may wait while the sink is busy. Taking them up replaces the consumer (kafkajs cannot add topics to a running one): it rejoins the group and the batches it has in hand are read again. A refresh that finds new topics replaces it at once when it has no batch in hand, else at the first refresh that finds it without one or this long after the first new topic was found, so a burst of new tables costs one or two replacements instead of one per refresh. 0 takes new topics up at once.',
    { default: '30000' },
  ),
  ELASTICSEARCH_URL: envVar(url(), 'Elasticsearch base URL.'),
  ...elasticsearchSecuritySpec,
  INDEX_NAME_TEMPLATE: envVar(
    text().default('{database}_{table}'),
    'Index name for a table; `{topic}`, `{prefix}`, `{database}` and `{table}` are replaced, the result lower-cased and made Elasticsearch-safe.',
    { default: '{database}_{table}' },
  ),
  INDEX_WRITE_ALIAS: envVar(
    bool().default(false),
    'When true the name from INDEX_NAME_TEMPLATE is an alias: the sink creates `<name>-000001` behind it as the write index, so an index can be rebuilt elsewhere and the alias swapped without touching the sink.',
    { default: 'false' },
  ),
  DOCUMENT_METADATA: envVar(
    list()
      .pipe(z.array(z.enum(METADATA_FIELDS)))
      .optional(),
    `Comma-separated change metadata to add to each document besides the row image: ${METADATA_FIELDS.map((f) => `\`${f}\``).join(', ')} (\`key\`: the row key as an object; \`version\`: the external version).`,
  ),
  DOCUMENT_METADATA_PREFIX: envVar(
    text()
      .regex(/^[A-Za-z_@][A-Za-z0-9_@]*$/, 'must be a field name prefix (letters, digits, _ or @)')
      .default('__cdc_'),
    'Prefix of the metadata fields, so they never clash with a column (e.g. `__cdc_op`).',
    { default: '__cdc_' },
  ),
  INDEX_GC_DELETES: envVar(
    text()
      .regex(/^\d+(ms|s|m|h|d)$/, 'must be a duration such as 60s, 1h or 7d')
      .default('1d'),
    "`index.gc_deletes` of indices the sink creates: how long a delete's version blocks an older replayed change from resurrecting the document.",
    { default: '1d' },
  ),
  INDEX_SHARDS: envVar(
    int(1, 1024).optional(),
    "Primary shards of the indices the sink creates (unset: Elasticsearch's default, 1). An index template matching the index name that sets the shard count wins.",
  ),
  INDEX_REPLICAS: envVar(
    text()
      .regex(/^(\d+|\d+-(\d+|all))$/, 'must be a replica count (1) or a range for auto-expansion (0-1, 0-all)')
      .default('0-1'),
    'Replicas of the indices the sink creates: a count (`index.number_of_replicas`), or a range `min-max` (`index.auto_expand_replicas`). The default `0-1` keeps one replica where the cluster has a second data node and none on a single node, so such an index is green and counts one shard against `cluster.max_shards_per_node`. An index template matching the index name that sets replicas wins.',
    { default: '0-1' },
  ),
  KEYLESS_TABLES: envVar(
    z.enum(['row_hash', 'skip']).default('row_hash'),
    "Changes of tables without a key (no primary key, unique NOT NULL index or source KEY_COLUMNS): `row_hash` indexes each distinct row under a hash of its non-null columns (an update replaces the old row's document, a delete removes it; identical rows share one document), `skip` counts them in cdc_sink_skipped_total and indexes nothing.",
    { default: 'row_hash' },
  ),
  JSON_COLUMNS: envVar(
    z.enum(['text', 'object', 'flattened']).default('text'),
    "How JSON columns are indexed; `_source` always holds the column's JSON text exactly as stored (integers beyond 2^53 stay exact). `text`: not indexed, and any JSON value fits (the default: a JSON column may hold a scalar, an array or objects of any shape, differently per row, and nothing of it can be refused). `object`: indexed as an object with dynamic sub-fields; a value that is not an object (or array of objects) or whose shape conflicts with the mapping goes to the dead-letter topic with Elasticsearch's reason. `flattened`: one `flattened` field (every leaf searchable as a keyword, no mapping growth); not an object goes to the dead-letter topic; where the distribution has no `flattened` type the sink warns once and keeps `text`.",
    { default: 'text' },
  ),
  DELETE_MODE: envVar(
    z.enum(['hard', 'soft']).default('hard'),
    "`hard`: a delete removes the document (a late replay of an older change is refused only for INDEX_GC_DELETES). `soft`: a delete indexes the last row image with `__deleted: true` under the delete's version, so no replay can ever resurrect it; search the `<index>_current` alias (filters out deleted rows).",
    { default: 'hard' },
  ),
  ERRORS_TOLERANCE: envVar(
    z.enum(['none', 'all']).default('all'),
    '`all`: a record that cannot be decoded or that Elasticsearch rejects (mapping/parse error) goes to the dead-letter topic and the sink goes on; `none`: the sink stops with a coded error naming the record.',
    { default: 'all' },
  ),
  DLQ_TOPIC: deadLetterTopicVar('Dead-letter topic (original key, value and headers plus `__connect.errors.*` context headers).'),
  TRANSFORMS: transformsVar('sink'),
  BULK_MAX_ACTIONS: envVar(int(1, 100_000).default(5000), 'Most actions in one bulk request.', { default: '5000' }),
  BULK_MAX_BYTES: envVar(int(1024).default(8 * 1024 * 1024), 'Most bytes in one bulk request (a single larger document goes alone, up to ELASTICSEARCH_MAX_REQUEST_BYTES).', {
    default: '8388608',
    check: (c) => ((c.BULK_MAX_BYTES as number) > (c.ELASTICSEARCH_MAX_REQUEST_BYTES as number) ? 'must not exceed ELASTICSEARCH_MAX_REQUEST_BYTES' : undefined),
  }),
  ELASTICSEARCH_MAX_REQUEST_BYTES: envVar(
    int(64 * 1024).default(64 * 1024 * 1024),
    "Hard bound of one bulk request's body in bytes: keep it below the cluster's `http.max_content_length` (100 MB by default), which answers a larger request with 413. A single document whose action exceeds it is not sent: it goes to the dead-letter topic as RECORD_TOO_LARGE (with ERRORS_TOLERANCE=none the sink stops with it).",
    { default: '67108864' },
  ),
  TOPIC_MAX_MESSAGE_BYTES: maxMessageBytesVar(
    '`max.message.bytes` of the dead-letter topic (set when the sink creates it, raised on an existing one below it): set it as on the source, so every record the sink reads fits there. A dead letter still larger keeps its key and headers and drops its value (header `cdc.errors.value.bytes` gives the size).',
  ),
  SINK_PARTITION_CONCURRENCY: envVar(
    int(1, 64).default(2),
    "Partitions the sink works on at the same time, each in its own order. Each holds at most SINK_BULKS_IN_FLIGHT bulk requests' worth of changes (BULK_MAX_BYTES): while one is in flight the next is decoded and sent.",
    { default: '2' },
  ),
  SINK_INDEX_CONCURRENCY: envVar(
    int(1, 64).default(8),
    "Indices the sink prepares at the same time (creating one, with its index template check, or adding new fields to its mapping). A partition waiting for its table's new index gives its place among SINK_PARTITION_CONCURRENCY to another partition meanwhile, so a burst of new tables gets its indices this many at a time (Elasticsearch applies index creations asked for together in one cluster state update).",
    { default: '8' },
  ),
  SINK_BULKS_IN_FLIGHT: envVar(
    int(1, 8).default(2),
    "Bulk requests of one partition in flight at the same time. Safe in any order because every action carries its change's external version; offsets are still committed in order, each only once its request and every earlier one are durable.",
    { default: '2' },
  ),
  SINK_FETCH_MAX_BYTES: envVar(
    int(1024 * 1024).default(4 * 1024 * 1024),
    "Most bytes of records one fetch from a Kafka broker returns (a partition gets at most half). The consumer holds at most two fetches' worth before decoding: a partition's next batch is fetched while the last bulk requests of the one before are in flight. A single record batch larger than that still comes whole (Kafka's rule, so a consumer always progresses): records up to the source's TOPIC_MAX_MESSAGE_BYTES need no change here.",
    { default: '4194304' },
  ),
  ...adminSpec,
};

export type SinkConfig = ConfigOf<typeof sinkSpec>;

/** The change topics a sink consumes: SINK_TOPICS, else every `<prefix>.<database>.<table>`. */
export function sinkTopicPatterns(config: Pick<SinkConfig, 'SINK_TOPICS' | 'TOPIC_PREFIX'>): RegExp[] {
  const prefix = config.TOPIC_PREFIX.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  return config.SINK_TOPICS ?? [new RegExp(`^${prefix}\\.[^.]+\\.[^.]+$`)];
}
