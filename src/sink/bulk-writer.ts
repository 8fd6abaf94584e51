import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';
import { CdcError } from '../core/errors.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { backoffDelay, type RetryPolicy } from '../core/retry.ts';
import { classifyItem, elasticsearchError, exceedsIndexingPressure, heldConditionError } from './elasticsearch-errors.ts';

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
  /** BULK_MAX_BYTES: where a request is closed; a single larger action goes alone. */
  maxBytes: number;
  /** ELASTICSEARCH_MAX_REQUEST_BYTES: no request body exceeds it; a single larger action is rejected as RECORD_TOO_LARGE. */
  maxRequestBytes: number;
}

/** An action's bytes besides its document, id and index name: the metadata line's JSON and two line breaks. */
const ACTION_FRAMING_BYTES = 128;

/** What an action adds to a request body, in bytes (UTF-8, as sent). */
function actionBytes(action: BulkAction): number {
  return (action.document === null ? 0 : Buffer.byteLength(action.document)) + Buffer.byteLength(action.id) + Buffer.byteLength(action.index) + ACTION_FRAMING_BYTES;
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
    for (const chunk of this.#chunks(actions, stats)) await this.#writeChunk(chunk, stats, options);
    return stats;
  }

  /**
   * Sends one chunk until every action is settled. A 413 (the cluster's http.max_content_length is
   * below ELASTICSEARCH_MAX_REQUEST_BYTES) halves the chunk instead of repeating it, down to the
   * single action, which is then rejected rather than sent forever.
   */
  async #writeChunk<T>(chunk: BulkAction<T>[], stats: BulkStats<T>, options: { heartbeat?: () => Promise<void>; signal?: AbortSignal }): Promise<void> {
    let pending = chunk;
    for (let attempt = 0; pending.length > 0; attempt++) {
      const { retry, reason, tooLarge } = await this.#send(pending, stats);
      if (tooLarge) {
        if (pending.length === 1) {
          stats.rejected.push({ action: pending[0]!, error: tooLargeError(pending[0]!, actionBytes(pending[0]!), this.#settings.maxRequestBytes, 413) });
          return;
        }
        const half = Math.ceil(pending.length / 2);
        await this.#writeChunk(pending.slice(0, half), stats, options);
        await this.#writeChunk(pending.slice(half), stats, options);
        return;
      }
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

  async #wait(ms: number, options: { heartbeat?: () => Promise<void>; signal?: AbortSignal }): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (options.signal?.aborted) throw new CdcError('ELASTICSEARCH_UNAVAILABLE', 'Stopped while waiting for Elasticsearch', { retriable: true });
      await sleep(Math.min(1000, until - Date.now()));
      await options.heartbeat?.();
    }
  }

  /** Sends one bulk request; returns the actions that must be retried and why. */
  async #send<T>(actions: BulkAction<T>[], stats: BulkStats<T>): Promise<{ retry: BulkAction<T>[]; reason?: CdcError; tooLarge?: true }> {
    let response: Awaited<ReturnType<Client['bulk']>>;
    try {
      response = await this.#client.bulk({ operations: requestBody(actions) as never, refresh: false, filter_path: RESPONSE_FIELDS });
    } catch (error) {
      if ((error as { meta?: { statusCode?: number } }).meta?.statusCode === 413) return { retry: actions, tooLarge: true };
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
        const pressure = exceedsIndexingPressure(result.error?.type, result.error?.reason);
        if (pressure) {
          stats.rejected.push({ action, error: tooLargeError(action, actionBytes(action), this.#settings.maxRequestBytes, pressure) });
          return;
        }
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

  /** Requests of at most maxActions and maxBytes (a single larger action goes alone); an action above maxRequestBytes is rejected unsent. */
  *#chunks<T>(actions: BulkAction<T>[], stats: BulkStats<T>): Generator<BulkAction<T>[]> {
    const { maxActions, maxBytes, maxRequestBytes } = this.#settings;
    let chunk: BulkAction<T>[] = [];
    let bytes = 0;
    for (const action of actions) {
      const size = actionBytes(action);
      if (size > maxRequestBytes) {
        stats.rejected.push({ action, error: tooLargeError(action, size, maxRequestBytes) });
        continue;
      }
      if (chunk.length > 0 && (chunk.length >= maxActions || bytes + size > maxBytes)) {
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

/**
 * The NDJSON body of a bulk request (built here, not by the client: versions are BigInts), encoded
 * once into one buffer. A string body would be measured for its length and encoded again on its
 * way to the socket, and a chunk's text, once flattened, is one more large string to collect.
 */
function requestBody(actions: readonly BulkAction[]): Buffer {
  // Exact for ASCII text (a UTF-16 unit is one byte), the usual case; the buffer grows otherwise.
  let estimate = 0;
  for (const a of actions) estimate += (a.document?.length ?? 0) + a.id.length + a.index.length + ACTION_FRAMING_BYTES;
  let body = Buffer.allocUnsafe(estimate);
  let used = 0;
  const append = (text: string) => {
    // A UTF-16 unit takes at most three UTF-8 bytes: the exact size is needed only near the end.
    if (used + 3 * text.length > body.length) {
      const needed = used + Buffer.byteLength(text);
      if (needed > body.length) {
        const grown = Buffer.allocUnsafe(Math.max(needed, 2 * body.length));
        body.copy(grown, 0, 0, used);
        body = grown;
      }
    }
    used += body.write(text, used);
  };
  for (const a of actions) {
    const meta = `{"_index":${JSON.stringify(a.index)},"_id":${JSON.stringify(a.id)},"version":${a.version},"version_type":"external"}`;
    if (a.document === null) append(`{"delete":${meta}}\n`);
    else {
      append(`{"index":${meta}}\n`);
      append(a.document);
      append('\n');
    }
  }
  return body.subarray(0, used);
}

/**
 * RECORD_TOO_LARGE for a document no bulk request can carry: by our bound, by the cluster's
 * http.max_content_length (413), or by its indexing-pressure budget (the numbers it reported).
 */
function tooLargeError(action: BulkAction, bytes: number, limit: number, refusal?: 413 | { bytes: number; max: number }): CdcError {
  const why =
    refusal === 413
      ? `Elasticsearch answered 413: its http.max_content_length is below this document's ${bytes} bytes (ELASTICSEARCH_MAX_REQUEST_BYTES is ${limit})`
      : refusal
        ? `indexing it needs ${refusal.bytes} bytes of Elasticsearch's indexing pressure budget, above its whole ${refusal.max} (indexing_pressure.memory.limit, 10 % of the heap by default; the document has ${bytes} bytes)`
        : `its ${bytes} bytes exceed ELASTICSEARCH_MAX_REQUEST_BYTES=${limit}`;
  return new CdcError('RECORD_TOO_LARGE', `Document ${action.id} of index ${action.index} cannot be sent in a bulk request: ${why}`, {
    details: { index: action.index, id: action.id, bytes, limit, reason: why },
    hint: "Raise the limit named (ELASTICSEARCH_MAX_REQUEST_BYTES, the cluster's http.max_content_length, or its heap or indexing_pressure.memory.limit) above the document, or drop or cut the column on the source (COLUMN_EXCLUDE, COLUMN_TRUNCATE). The record went to the dead-letter topic (ERRORS_TOLERANCE=all); its document keeps its previous version.",
  });
}
