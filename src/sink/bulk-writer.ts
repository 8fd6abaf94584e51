import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';
import { CdcError } from '../core/errors.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { backoffDelay, type RetryPolicy } from '../core/retry.ts';
import { classifyItem, elasticsearchError, heldConditionError } from './elasticsearch-errors.ts';

export interface BulkAction<T = unknown> {
  index: string;
  id: string;
  version: bigint;
  /** The document's JSON text; null deletes the document. */
  document: string | null;
  /** Where the change came from (the Kafka record), handed back with a rejection. */
  origin: T;
}

/** An action Elasticsearch refused for a reason retrying cannot fix (mapping or parse errors). */
export interface Rejection<T = unknown> {
  action: BulkAction<T>;
  error: CdcError;
}

export interface BulkStats<T = unknown> {
  ok: number;
  stale: number;
  retried: number;
  rejected: Rejection<T>[];
}

export interface BulkSettings {
  maxActions: number;
  maxBytes: number;
}

/**
 * Keeps, per document, only the action with the highest version: the others would be applied and
 * then overwritten (or refused as stale) anyway. Order among the kept actions is preserved.
 */
export function collapseById<T>(actions: BulkAction<T>[]): BulkAction<T>[] {
  const newest = new Map<string, Map<string, BulkAction<T>>>();
  let kept = 0;
  for (const action of actions) {
    let ofIndex = newest.get(action.index);
    if (!ofIndex) {
      ofIndex = new Map();
      newest.set(action.index, ofIndex);
    }
    const seen = ofIndex.get(action.id);
    if (!seen) kept++;
    if (!seen || action.version > seen.version) ofIndex.set(action.id, action);
  }
  if (kept === actions.length) return actions;
  return actions.filter((a) => newest.get(a.index)!.get(a.id) === a);
}

/** The parts of a bulk answer the writer reads: a smaller answer to receive and parse. */
const RESPONSE_FIELDS = 'errors,items.*.status,items.*.error.type,items.*.error.reason';

const RETRY: RetryPolicy = { initialDelayMs: 250, maxDelayMs: 30_000, maxElapsedMs: Infinity };

/**
 * Writes actions with external versions (`version_type=external`): Elasticsearch applies a change
 * only if its version is higher than the document's, so replays and duplicates have no effect.
 * Action lines are built as JSON text because versions are BigInts.
 *
 * write() returns only when every action is durable (applied or already superseded) or rejected. Retriable
 * failures (429, 5xx, connection errors) are retried — only the failed items — with backoff,
 * calling `heartbeat` so the consumer keeps its partitions while it waits.
 */
export class BulkWriter {
  readonly #client: Client;
  readonly #settings: BulkSettings;
  readonly #log: Logger;
  /** Since when bulk requests keep failing retriably (undefined after one fully succeeded): readiness reads it. */
  failingSince: number | undefined;
  lastFailure: CdcError | undefined;

  constructor(client: Client, settings: BulkSettings, log: Logger) {
    this.#client = client;
    this.#settings = settings;
    this.#log = log;
  }

  async write<T>(actions: BulkAction<T>[], options: { heartbeat?: () => Promise<void>; signal?: AbortSignal } = {}): Promise<BulkStats<T>> {
    const stats: BulkStats<T> = { ok: 0, stale: 0, retried: 0, rejected: [] };
    for (const chunk of this.#chunks(actions)) {
      let pending = chunk;
      for (let attempt = 0; pending.length > 0; attempt++) {
        const { retry, reason } = await this.#send(pending, stats);
        if (reason) {
          this.failingSince ??= Date.now();
          this.lastFailure = reason;
        } else {
          this.failingSince = undefined;
        }
        pending = retry;
        if (pending.length === 0) break;
        stats.retried += pending.length;
        const delay = backoffDelay(RETRY, Math.min(attempt, 10));
        this.#log.warn({ ...errorFields(reason), items: pending.length, attempt, retryInMs: delay }, 'Elasticsearch is unavailable or overloaded; retrying the items');
        await this.#wait(delay, options);
      }
    }
    return stats;
  }

  async #wait(ms: number, options: { heartbeat?: () => Promise<void>; signal?: AbortSignal }): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (options.signal?.aborted) throw new CdcError('ELASTICSEARCH_UNAVAILABLE', 'Stopped while waiting for Elasticsearch', { retriable: true });
      await sleep(Math.min(1000, until - Date.now()));
      await options.heartbeat?.();
    }
  }

  /** Sends one bulk request; returns the actions that must be retried and why. */
  async #send<T>(actions: BulkAction<T>[], stats: BulkStats<T>): Promise<{ retry: BulkAction<T>[]; reason?: CdcError }> {
    // The request body is built as NDJSON text here (versions are BigInts), so the client sends it as is.
    let body = '';
    for (const a of actions) {
      const meta = `{"_index":${JSON.stringify(a.index)},"_id":${JSON.stringify(a.id)},"version":${a.version},"version_type":"external"}`;
      body += a.document === null ? `{"delete":${meta}}\n` : `{"index":${meta}}\n${a.document}\n`;
    }
    let response: Awaited<ReturnType<Client['bulk']>>;
    try {
      response = await this.#client.bulk({ operations: body as never, refresh: false, filter_path: RESPONSE_FIELDS });
    } catch (error) {
      const cdc = elasticsearchError(error, 'Bulk request');
      if (cdc.retriable) return { retry: actions, reason: cdc };
      throw cdc;
    }
    if (!response.errors) {
      stats.ok += actions.length;
      return { retry: [] };
    }
    const retry: BulkAction<T>[] = [];
    let reason: CdcError | undefined;
    response.items.forEach((item, i) => {
      const action = actions[i]!;
      const result = item.index ?? item.delete ?? Object.values(item)[0]!;
      const outcome = classifyItem(result.status, action.document === null, result.error?.type);
      if (outcome === 'ok') stats.ok++;
      else if (outcome === 'stale') stats.stale++;
      else if (outcome === 'retry') {
        retry.push(action);
        reason ??=
          heldConditionError(result.error ?? {}, result.status, `Writing to index ${action.index}`) ??
          new CdcError('ELASTICSEARCH_UNAVAILABLE', `Elasticsearch answered ${result.status} for some items: ${result.error?.type ?? ''}`, { retriable: true });
      } else {
        const why = result.error ? `${result.error.type}: ${result.error.reason ?? ''}` : `status ${result.status}`;
        stats.rejected.push({
          action,
          error: new CdcError('ELASTICSEARCH_REJECTED', `Elasticsearch rejected document ${action.id} of index ${action.index}: ${why}`, {
            details: { index: action.index, id: action.id, status: result.status, reason: why },
            hint: 'Usually a mapping conflict: the column type changed incompatibly with the index mapping. Reindex or route the table to a new index.',
          }),
        });
      }
    });
    return reason ? { retry, reason } : { retry };
  }

  *#chunks<T>(actions: BulkAction<T>[]): Generator<BulkAction<T>[]> {
    let chunk: BulkAction<T>[] = [];
    let bytes = 0;
    for (const action of actions) {
      const size = (action.document?.length ?? 0) + 120;
      if (chunk.length > 0 && (chunk.length >= this.#settings.maxActions || bytes + size > this.#settings.maxBytes)) {
        yield chunk;
        chunk = [];
        bytes = 0;
      }
      chunk.push(action);
      bytes += size;
    }
    if (chunk.length > 0) yield chunk;
  }
}
