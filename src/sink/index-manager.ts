import { errors, type Client } from '@elastic/elasticsearch';
import type { Type } from 'avsc';
import { CdcError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { isRetriableTransportError } from './bulk-writer.ts';
import { propertiesOf } from './index-mapping.ts';

/**
 * Creates indices with explicit mappings and a raised `index.gc_deletes` (so a late replay of an
 * older change cannot resurrect a deleted document within that window), and adds the fields of
 * new schema versions to existing indices. Mapping changes are only ever additive; a conflicting
 * one is a coded error naming the index and Elasticsearch's reason.
 */
export class IndexManager {
  readonly #client: Client;
  readonly #gcDeletes: string;
  readonly #log: Logger;
  readonly #done = new Set<string>();

  constructor(client: Client, gcDeletes: string, log: Logger) {
    this.#client = client;
    this.#gcDeletes = gcDeletes;
    this.#log = log;
  }

  async ensure(index: string, schemaId: number, rowType: Type | undefined): Promise<void> {
    const cacheKey = `${index}\u0000${schemaId}`;
    if (this.#done.has(cacheKey)) return;
    const properties = rowType ? propertiesOf(rowType) : {};
    try {
      const exists = await this.#client.indices.exists({ index });
      if (!exists) {
        try {
          await this.#client.indices.create({ index, settings: { index: { gc_deletes: this.#gcDeletes } }, mappings: { properties } as never });
          this.#log.info({ index, gcDeletes: this.#gcDeletes }, 'created index');
        } catch (error) {
          // Another sink instance may have created it first; then the mapping update below applies.
          if (!(error instanceof errors.ResponseError && /resource_already_exists/.test(String(error.body && JSON.stringify(error.body))))) throw error;
          await this.#client.indices.putMapping({ index, properties: properties as never });
        }
      } else {
        await this.#client.indices.putMapping({ index, properties: properties as never });
      }
      this.#done.add(cacheKey);
    } catch (error) {
      if (isRetriableTransportError(error)) {
        throw new CdcError('ELASTICSEARCH_UNAVAILABLE', `Cannot prepare index ${index}: ${errorMessage(error)}`, { cause: error, retriable: true });
      }
      throw new CdcError('ELASTICSEARCH_REJECTED', `Elasticsearch refused the mapping of index ${index}: ${errorMessage(error)}`, {
        cause: error,
        hint: 'A column changed type incompatibly with the existing mapping. Reindex into a new index (INDEX_NAME_TEMPLATE) or revert the change.',
      });
    }
  }
}
