import { Client } from '@elastic/elasticsearch';
import { tlsOptions } from '../core/tls.ts';
import type { SinkConfig } from '../config/sink.ts';
import { elasticsearchSecurityError } from './elasticsearch-errors.ts';

/**
 * The client with its own retries off: the bulk writer and the sink's batch loop retry, with
 * backoff. Its errors drop the request's headers and connection instead of copying them with
 * secrets masked (the client's default): that copy walks every value the error holds, the bulk
 * body too, and for a body of n bytes builds an array of n entries. A connection lost under a
 * 20 MiB document took a 213 MB array and ended the sink out of memory.
 */
export function elasticsearchClient(config: SinkConfig): Client {
  const auth = config.ELASTICSEARCH_API_KEY
    ? { apiKey: config.ELASTICSEARCH_API_KEY }
    : config.ELASTICSEARCH_USERNAME
      ? { username: config.ELASTICSEARCH_USERNAME, password: config.ELASTICSEARCH_PASSWORD ?? '' }
      : undefined;
  const tls = config.ELASTICSEARCH_URL.startsWith('https:') ? tlsOptions({ caFile: config.ELASTICSEARCH_SSL_CA_FILE, insecure: config.ELASTICSEARCH_SSL_INSECURE }) : undefined;
  return new Client({ node: config.ELASTICSEARCH_URL, ...(auth ? { auth } : {}), ...(tls ? { tls } : {}), requestTimeout: 60_000, maxRetries: 0, redaction: { type: 'remove' } });
}

/**
 * Asks for the cluster's health once at start, so wrong credentials or an untrusted certificate
 * stop the sink with a coded error before it consumes anything. Other failures (Elasticsearch
 * down) are left to the bulk writer's retries.
 */
export async function checkElasticsearchAccess(client: Client): Promise<void> {
  try {
    await client.cluster.health({ timeout: '5s' });
  } catch (error) {
    const security = elasticsearchSecurityError(error);
    if (security) throw security;
  }
}
