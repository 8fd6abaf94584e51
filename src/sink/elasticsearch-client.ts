import { Client } from '@elastic/elasticsearch';
import type { CdcError } from '../core/errors.ts';
import { authError, certificateError, tlsOptions } from '../core/tls.ts';
import type { SinkConfig } from '../config/sink.ts';

export function elasticsearchClient(config: SinkConfig): Client {
  const auth = config.ELASTICSEARCH_API_KEY
    ? { apiKey: config.ELASTICSEARCH_API_KEY }
    : config.ELASTICSEARCH_USERNAME
      ? { username: config.ELASTICSEARCH_USERNAME, password: config.ELASTICSEARCH_PASSWORD ?? '' }
      : undefined;
  const tls = config.ELASTICSEARCH_URL.startsWith('https:') ? tlsOptions({ caFile: config.ELASTICSEARCH_SSL_CA_FILE, insecure: config.ELASTICSEARCH_SSL_INSECURE }) : undefined;
  return new Client({ node: config.ELASTICSEARCH_URL, ...(auth ? { auth } : {}), ...(tls ? { tls } : {}), requestTimeout: 60_000, maxRetries: 0 });
}

/** AUTH_FAILED (401/403) or TLS_CERT_INVALID when that is why an Elasticsearch request failed. */
export function elasticsearchSecurityError(error: unknown): CdcError | undefined {
  const status = (error as { meta?: { statusCode?: number } }).meta?.statusCode;
  if (status === 401 || status === 403) {
    return authError(error, 'Elasticsearch', "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD, or ELASTICSEARCH_API_KEY (and the user's privileges)");
  }
  return certificateError(error, 'Elasticsearch', 'ELASTICSEARCH_SSL_CA_FILE');
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
