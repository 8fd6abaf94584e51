import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { testServerTls, upstreamRequest } from './tls.ts';

/**
 * A test-only HTTPS proxy (the stack's certificate) in front of Elasticsearch that answers 429 for some items of bulk
 * requests — a fault a real cluster produces only under load it cannot be made to have on demand.
 * Rejected items are removed from the forwarded request (so Elasticsearch never applies them) and
 * put back into the answer as `429 es_rejected_execution_exception`, at their original places.
 * Each document id is rejected at most `timesPerId` times, so retries eventually get through.
 * `setEveryNth` changes the rate while it runs (0: forward everything), for 429 phases.
 */
export interface BulkFaultProxy {
  url: string;
  rejected: number;
  setEveryNth(everyNth: number): void;
  close(): Promise<void>;
}

export async function startBulk429Proxy(target: string, options: { everyNth: number; timesPerId?: number }): Promise<BulkFaultProxy> {
  const upstream = new URL(target);
  const rejectedIds = new Map<string, number>();
  let counter = 0;
  let everyNth = options.everyNth;
  const state = { rejected: 0 };

  const forward = (req: IncomingMessage, body: Buffer, onAnswer: (status: number, headers: Record<string, string>, body: Buffer) => void) => {
    const out = upstreamRequest(upstream, { method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => onAnswer(res.statusCode ?? 502, res.headers as Record<string, string>, Buffer.concat(chunks)));
    });
    out.on('error', () => onAnswer(502, { 'content-type': 'application/json' }, Buffer.from('{"error":"upstream unavailable"}')));
    out.end(body);
  };

  const server: Server = createServer(testServerTls(), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const reply = (status: number, headers: Record<string, string>, answer: Buffer) => {
        const { 'content-length': _length, 'transfer-encoding': _te, ...rest } = headers;
        res.writeHead(status, { ...rest, 'content-length': String(answer.length) });
        res.end(answer);
      };
      if (!(req.method === 'POST' || req.method === 'PUT') || !/\/_bulk(\?|$)/.test(req.url ?? '')) return forward(req, body, reply);

      const lines = body
        .toString('utf8')
        .split('\n')
        .filter((l) => l.length > 0);
      const items: Array<{ action: string; source?: string; op: string; meta: { _index: string; _id: string } }> = [];
      for (let i = 0; i < lines.length; i++) {
        const action = JSON.parse(lines[i]!) as Record<string, { _index: string; _id: string }>;
        const op = Object.keys(action)[0]!;
        const item: (typeof items)[number] = { action: lines[i]!, op, meta: action[op]! };
        if (op !== 'delete') item.source = lines[++i];
        items.push(item);
      }
      const rejected = new Set<number>();
      items.forEach((item, i) => {
        const times = rejectedIds.get(item.meta._id) ?? 0;
        counter += 1;
        if (everyNth > 0 && counter % everyNth === 0 && times < (options.timesPerId ?? 1)) {
          rejected.add(i);
          rejectedIds.set(item.meta._id, times + 1);
        }
      });
      state.rejected += rejected.size;
      const kept = items.filter((_, i) => !rejected.has(i));
      const synthetic = (i: number) => ({
        [items[i]!.op]: { _index: items[i]!.meta._index, _id: items[i]!.meta._id, status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected by the test proxy' } },
      });
      if (kept.length === 0) {
        return reply(
          200,
          { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' },
          Buffer.from(JSON.stringify({ took: 0, errors: true, items: items.map((_, i) => synthetic(i)) })),
        );
      }
      const forwarded = Buffer.from(`${kept.flatMap((k) => (k.source === undefined ? [k.action] : [k.action, k.source])).join('\n')}\n`);
      forward(req, forwarded, (status, headers, answer) => {
        if (status !== 200) return reply(status, headers, answer);
        // Splice the synthetic 429s back in at their places. Versions in the answer are not read by the sink.
        const parsed = JSON.parse(answer.toString('utf8')) as { took: number; errors: boolean; items: unknown[] };
        const merged: unknown[] = [];
        let next = 0;
        items.forEach((_, i) => {
          merged.push(rejected.has(i) ? synthetic(i) : parsed.items[next++]);
        });
        reply(200, { ...headers, 'content-type': 'application/json' }, Buffer.from(JSON.stringify({ ...parsed, errors: parsed.errors || rejected.size > 0, items: merged })));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get rejected() {
      return state.rejected;
    },
    setEveryNth(n: number) {
      everyNth = n;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
