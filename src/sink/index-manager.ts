import type { Client } from '@elastic/elasticsearch';
import type { TableSchema } from '../core/change-event.ts';
import { Limiter } from '../core/limiter.ts';
import type { Logger } from '../core/logger.ts';
import { elasticsearchError, elasticsearchRefusal } from './elasticsearch-errors.ts';
import { type JsonColumns, propertiesOf } from './index-mapping.ts';

/** How the sink makes its indices (from the sink's configuration). */
export interface IndexSettings {
  gcDeletes: string;
  /** INDEX_SHARDS; undefined: Elasticsearch's default. */
  shards?: number | undefined;
  /** INDEX_REPLICAS: a count, or an auto-expand range such as `0-1`. */
  replicas: string;
  /** DELETE_MODE=soft: a `__deleted` flag and an `<index>_current` alias without deleted rows. */
  softDeletes: boolean;
  /** INDEX_WRITE_ALIAS: the name is an alias over `<name>-000001`, the write index. */
  writeAlias: boolean;
  /** Mappings of fields the sink adds besides the row's columns (change metadata). */
  extraProperties: Record<string, unknown>;
  /** JSON_COLUMNS. */
  jsonColumns: JsonColumns;
  /** SINK_INDEX_CONCURRENCY: indices prepared at the same time. */
  concurrency: number;
}

/**
 * Creates indices with explicit mappings and a raised `index.gc_deletes` (so a late replay of an
 * older change cannot resurrect a deleted document within that window), and adds the fields of
 * new schema versions to existing indices. Mapping changes are only ever additive; a conflicting
 * one is a coded error naming the index and Elasticsearch's reason.
 *
 * Creating an index is a cluster state update in Elasticsearch (0.1–0.5 s, slower as the cluster
 * holds more indices), and updates asked for at the same time are applied together: new indices
 * are prepared `concurrency` at a time, and partitions that need the same index and schema at
 * once share one preparation.
 */
export class IndexManager {
  readonly #client: Client;
  readonly #settings: IndexSettings;
  readonly #log: Logger;
  readonly #done = new Set<string>();
  /** The last pair found ready: records come in runs of one table, and readiness never ends, so a run asks without a key built. */
  #lastReady: { name: string; schema: TableSchema } | undefined;
  /** Preparations under way by index and schema; each leaves when it settles (a failed one is tried again by the next caller). */
  readonly #preparing = new Map<string, Promise<void>>();
  readonly #limiter: Limiter;
  /** Whether the cluster knows `geo_shape` (the spatial module); learnt from its first refusal. */
  #geoShape = true;
  /** JSON_COLUMNS as this cluster allows it: `flattened` falls back to `text` where the type is missing. */
  #jsonColumns: JsonColumns;

  constructor(client: Client, settings: IndexSettings, log: Logger) {
    this.#client = client;
    this.#settings = settings;
    this.#log = log;
    this.#jsonColumns = settings.jsonColumns;
    this.#limiter = new Limiter(settings.concurrency);
  }

  /** Whether `name` is ready for documents of `schema` already (ensure() would return at once). */
  isReady(name: string, schema: TableSchema): boolean {
    if (schema === this.#lastReady?.schema && name === this.#lastReady.name) return true;
    if (!this.#done.has(preparationKey(name, schema))) return false;
    this.#lastReady = { name, schema };
    return true;
  }

  /** Makes `name` (an index, or an alias with INDEX_WRITE_ALIAS) ready for documents of a (transformed) table schema. */
  ensure(name: string, schema: TableSchema): Promise<void> {
    const key = preparationKey(name, schema);
    if (this.#done.has(key)) return Promise.resolve();
    let preparing = this.#preparing.get(key);
    if (!preparing) {
      preparing = this.#limiter
        .run(() => this.#prepare(name, schema))
        .then(() => void this.#done.add(key))
        .finally(() => this.#preparing.delete(key));
      this.#preparing.set(key, preparing);
    }
    return preparing;
  }

  async #prepare(name: string, schema: TableSchema): Promise<void> {
    for (;;) {
      // What this attempt maps with: a concurrent preparation may learn meanwhile that the cluster lacks a type.
      const geoShape = this.#geoShape;
      const jsonColumns = this.#jsonColumns;
      const properties: Record<string, unknown> = { ...propertiesOf(schema, geoShape, jsonColumns), ...this.#settings.extraProperties };
      if (this.#settings.softDeletes) properties.__deleted = { type: 'boolean' };
      try {
        // `exists` is true for an alias too; mappings put through an alias reach every index behind it.
        if (!(await this.#client.indices.exists({ index: name }))) await this.#create(name, properties);
        else await this.#addFields(name, properties);
        return;
      } catch (error) {
        const refusal = elasticsearchRefusal(error);
        // A cluster without the spatial module refuses the whole mapping for its geo_shape fields.
        if (geoShape && refusal.type === 'mapper_parsing_exception' && refusal.reason?.includes('[geo_shape]')) {
          if (this.#geoShape) this.#log.warn({ index: name }, 'this Elasticsearch has no geo_shape field type (spatial module missing): GEOMETRY columns keep their GeoJSON unindexed in _source');
          this.#geoShape = false;
          continue;
        }
        // Distributions without the x-pack mapper (OSS builds, OpenSearch) have no `flattened`.
        if (jsonColumns === 'flattened' && refusal.type === 'mapper_parsing_exception' && refusal.reason?.includes('[flattened]')) {
          if (this.#jsonColumns === 'flattened')
            this.#log.warn({ index: name }, 'this Elasticsearch has no flattened field type: JSON_COLUMNS=flattened falls back to text (JSON columns kept unindexed in _source)');
          this.#jsonColumns = 'text';
          continue;
        }
        throw elasticsearchError(
          error,
          `Preparing the mapping of index ${name}`,
          'A column changed type incompatibly with the existing mapping. Reindex into a new index (INDEX_NAME_TEMPLATE) or revert the change.',
        );
      }
    }
  }

  /**
   * Adds the fields the index does not map yet. A field already mapped keeps its mapping even
   * when the column's type changed (Elasticsearch cannot change it in place): values that still
   * fit it are indexed, others fail per item (dead-letter topic); a reindex changes it.
   */
  async #addFields(name: string, properties: Record<string, unknown>): Promise<void> {
    const answer = await this.#client.indices.getMapping({ index: name });
    const existing: Record<string, { type?: string }> = {};
    for (const index of Object.values(answer)) Object.assign(existing, (index.mappings?.properties ?? {}) as Record<string, { type?: string }>);
    const added: Record<string, unknown> = {};
    for (const [field, mapping] of Object.entries(properties)) {
      const current = existing[field];
      if (!current) added[field] = mapping;
      else if (current.type !== (mapping as { type?: string }).type) {
        this.#log.warn(
          { index: name, field, mapped: current.type, column: (mapping as { type?: string }).type },
          'a column changed type; the index keeps its existing mapping of the field (reindex to change it)',
        );
      }
    }
    if (Object.keys(added).length === 0) return;
    await this.#client.indices.putMapping({ index: name, properties: added as never });
    this.#log.info({ index: name, fields: Object.keys(added) }, 'added fields to the index mapping');
  }

  /**
   * The settings the sink gives a new index: gc_deletes, shards and replicas, except those an index
   * template matching the name sets itself (the operator's template wins; the sink only fills in).
   */
  async #indexSettings(index: string): Promise<{ settings: Record<string, unknown>; fromTemplate: string[] }> {
    const { replicas, shards, gcDeletes } = this.#settings;
    const ours: Record<string, unknown> = { gc_deletes: gcDeletes, ...(shards ? { number_of_shards: shards } : {}) };
    if (/^\d+$/.test(replicas)) ours.number_of_replicas = Number(replicas);
    else ours.auto_expand_replicas = replicas;
    const simulated = await this.#client.indices.simulateIndexTemplate({ name: index });
    const template = ((simulated.template?.settings as { index?: Record<string, unknown> } | undefined)?.index ?? {}) as Record<string, unknown>;
    // Replicas are one concern whichever of the two settings the template uses.
    const templateSets = (key: string) => key in template || (key.endsWith('replicas') && ('number_of_replicas' in template || 'auto_expand_replicas' in template));
    const fromTemplate = Object.keys(ours).filter(templateSets);
    for (const key of fromTemplate) delete ours[key];
    return { settings: ours, fromTemplate };
  }

  async #create(name: string, properties: Record<string, unknown>): Promise<void> {
    const index = this.#settings.writeAlias ? `${name}-000001` : name;
    const aliases: Record<string, unknown> = {};
    if (this.#settings.writeAlias) aliases[name] = { is_write_index: true };
    if (this.#settings.softDeletes) aliases[`${name}_current`] = { filter: { term: { __deleted: false } } };
    try {
      const { settings, fromTemplate } = await this.#indexSettings(index);
      await this.#client.indices.create({ index, settings: { index: settings }, mappings: { properties } as never, aliases: aliases as never });
      this.#log.info({ index, settings, aliases: Object.keys(aliases), ...(fromTemplate.length > 0 ? { keptFromTemplate: fromTemplate } : {}) }, 'created index');
    } catch (error) {
      // Another sink instance may have created it first; then only the mapping update applies.
      if (elasticsearchRefusal(error).type !== 'resource_already_exists_exception') throw error;
      await this.#client.indices.putMapping({ index: name, properties: properties as never });
    }
  }
}

function preparationKey(name: string, schema: TableSchema): string {
  return `${name}\u0000${schema.fingerprint}`;
}
