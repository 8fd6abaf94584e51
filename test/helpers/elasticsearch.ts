import { parseExactJson } from '../../src/core/exact-json.ts';
import { stackEnv } from './stack.ts';

export interface IndexedDoc {
  id: string;
  version: bigint;
  source: Record<string, unknown>;
}

export async function es(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${stackEnv().ELASTICSEARCH_URL}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? parseExactJson(text) : undefined };
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
