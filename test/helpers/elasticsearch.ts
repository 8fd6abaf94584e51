import { parseJsonBig } from './json.ts';
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
  return { status: response.status, body: text ? parseJsonBig(text) : undefined };
}

/** Every document of `index` with its exact `_version`, keyed by `_id`. */
export async function dumpIndex(index: string): Promise<Map<string, IndexedDoc>> {
  await es('POST', `/${index}/_refresh`);
  const docs = new Map<string, IndexedDoc>();
  let searchAfter: unknown[] | undefined;
  for (;;) {
    const { status, body } = await es('POST', `/${index}/_search`, {
      size: 5000,
      version: true,
      sort: [{ _id: 'asc' }],
      ...(searchAfter ? { search_after: searchAfter } : {}),
    });
    if (status === 404) return docs;
    if (status !== 200) throw new Error(`search ${index} answered ${status}: ${JSON.stringify(body)}`);
    const hits = (body as { hits: { hits: Array<{ _id: string; _version: number | bigint; _source: Record<string, unknown>; sort: unknown[] }> } }).hits.hits;
    for (const hit of hits) docs.set(hit._id, { id: hit._id, version: BigInt(hit._version), source: hit._source });
    if (hits.length < 5000) return docs;
    searchAfter = hits.at(-1)!.sort;
  }
}

export async function deleteIndices(pattern: string): Promise<void> {
  await es('DELETE', `/${pattern}?ignore_unavailable=true&allow_no_indices=true&expand_wildcards=all`);
}
