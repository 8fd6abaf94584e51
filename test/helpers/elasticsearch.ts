import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { parseExactJson } from '../../src/core/exact-json.ts';
import { stackEnv } from './stack.ts';

export interface IndexedDoc {
  id: string;
  version: bigint;
  source: Record<string, unknown>;
}

let agent: Agent | undefined;

/** The stack's Elasticsearch speaks HTTPS with its own CA and basic auth, like a production cluster. */
export function esConnection(): { agent: Agent; authorization: string } {
  const env = stackEnv();
  agent ??= new Agent({ ca: readFileSync(env.ELASTICSEARCH_SSL_CA_FILE), keepAlive: true });
  return { agent, authorization: `Basic ${Buffer.from(`${env.ELASTICSEARCH_USERNAME}:${env.ELASTICSEARCH_PASSWORD}`).toString('base64')}` };
}

export async function es(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const { agent, authorization } = esConnection();
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      `${stackEnv().ELASTICSEARCH_URL}${path}`,
      {
        method,
        agent,
        // Explicit length: Node frames no body of a GET or DELETE on its own (scroll deletes have one).
        headers: { 'content-type': 'application/json', authorization, 'content-length': String(payload === undefined ? 0 : Buffer.byteLength(payload)) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
  return { status, body: text ? parseExactJson(text) : undefined };
}

type Hit = { _id: string; _version: number | bigint; _source: Record<string, unknown> };

/** Every document of `index` with its exact `_version`, keyed by `_id` (scrolls through all). */
export async function dumpIndex(index: string): Promise<Map<string, IndexedDoc>> {
  const docs = new Map<string, IndexedDoc>();
  const refresh = await es('POST', `/${index}/_refresh`);
  if (refresh.status === 404) return docs;
  let page = await es('POST', `/${index}/_search?scroll=1m`, { size: 5000, version: true, sort: ['_doc'] });
  for (;;) {
    if (page.status !== 200) throw new Error(`search ${index} answered ${page.status}: ${JSON.stringify(page.body)}`);
    const body = page.body as { _scroll_id: string; hits: { hits: Hit[] } };
    for (const hit of body.hits.hits) docs.set(hit._id, { id: hit._id, version: BigInt(hit._version), source: hit._source });
    if (body.hits.hits.length === 0) {
      await es('DELETE', '/_search/scroll', { scroll_id: body._scroll_id });
      return docs;
    }
    page = await es('POST', '/_search/scroll', { scroll: '1m', scroll_id: body._scroll_id });
  }
}

export async function deleteIndices(pattern: string): Promise<void> {
  await es('DELETE', `/${pattern}?ignore_unavailable=true&allow_no_indices=true&expand_wildcards=all`);
}

/** The ids of the documents of `index` a query finds (one page), in Elasticsearch's order. */
export async function searchIds(index: string, query: unknown): Promise<string[]> {
  const { body } = await es('POST', `/${index}/_search`, { query });
  return (body as { hits: { hits: Array<{ _id: string }> } }).hits.hits.map((h) => h._id);
}
