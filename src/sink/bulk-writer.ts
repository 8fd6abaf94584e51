import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';
import { CdcError } from '../core/errors.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { backoffDelay, type RetryPolicy } from '../core/retry.ts';
import { JsonBytes } from './json-bytes.ts';
import { classifyItem, elasticsearchError, exceedsIndexingPressure, heldConditionError } from './elasticsearch-errors.ts';

export interface BulkAction<T = unknown> {
  index: string;
  id: string;
  version: bigint;
  /** The document's JSON, as text or as UTF-8 bytes; null deletes the document. */
  document: string | Buffer | null;
  /**
   * Where a document given as bytes starts and ends in its Buffer (rendered documents share
   * blocks: no view object each, for the thousands of actions a chunk holds); the whole Buffer
   * without them.
   */
  start?: number;
  end?: number;
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
  const { document } = action;
  const documentBytes = typeof document === 'string' ? Buffer.byteLength(document) : documentLength(action);
  return documentBytes + Buffer.byteLength(action.id) + Buffer.byteLength(action.index) + ACTION_FRAMING_BYTES;
}

/** The length of an action's document: bytes for a Buffer, UTF-16 units for text (its bytes when ASCII); 0 for a delete. */
export function documentLength({ document, start, end }: BulkAction): number {
  if (document === null) return 0;
  if (typeof document === 'string') return document.length;
  return (end ?? document.length) - (start ?? 0);
}

/**
 * Keeps, per document, only the action with the highest version: the others would be applied and
 * then overwritten (or refused as stale) anyway. Order among the kept actions is preserved.
 */
export function collapseById<T>(actions: BulkAction<T>[]): BulkAction<T>[] {
  const newest = new Map<string, Map<string, BulkAction<T>>>();
  let kept = 0;
  // Indexed: run once per chunk, this stays unoptimised, where for-of allocates per action.
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i]!;
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
    // Indexed: a generator resumed once per request stays unoptimised, where for-of allocates per action.
    for (let i = 0; i < actions.length; i++) {
      const action = actions[i]!;
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
 * The NDJSON body of a bulk request (built here, not by the client: versions are BigInts), written
 * once as UTF-8 into one buffer. A string body would be measured for its length and encoded again
 * on its way to the socket, and a chunk's text, once flattened, is one more large string to
 * collect. Documents rendered as bytes are copied as they are; an action line costs no string.
 */
function requestBody(actions: readonly BulkAction[]): Buffer {
  // Exact for ASCII text (a UTF-16 unit is one byte), the usual case; the buffer grows otherwise.
  let estimate = 0;
  for (const a of actions) estimate += documentLength(a) + a.id.length + a.index.length + ACTION_FRAMING_BYTES;
  const body = new JsonBytes(estimate);
  body.begin();
  for (const a of actions) {
    const line = actionLine(a.index, a.document === null);
    body.copy(line, 0, line.length);
    jsonId(body, a.id);
    body.copy(VERSION, 0, VERSION.length);
    if (a.version <= MAX_SAFE_VERSION) body.integer(Number(a.version));
    else body.ascii(String(a.version));
    body.copy(LINE_END, 0, LINE_END.length);
    const { document } = a;
    if (document === null) continue;
    if (typeof document === 'string') body.utf8(document);
    else body.copy(document, a.start ?? 0, a.end ?? document.length);
    body.byte(0x0a);
  }
  return body.end();
}

const VERSION = Buffer.from('","version":');
const LINE_END = Buffer.from(',"version_type":"external"}}\n');
const MAX_SAFE_VERSION = BigInt(Number.MAX_SAFE_INTEGER);

/** Per index name, its action lines' start (`{"index":{"_index":"name","_id":"`), and the delete's. */
const actionLines = new Map<string, [Buffer, Buffer]>();

function actionLine(index: string, deletes: boolean): Buffer {
  let lines = actionLines.get(index);
  if (!lines) {
    // Bounded: index names come from the tables' names, but a router could make many.
    if (actionLines.size >= 10_000) actionLines.clear();
    const meta = `{"_index":${JSON.stringify(index)},"_id":"`;
    lines = [Buffer.from(`{"index":${meta}`), Buffer.from(`{"delete":${meta}`)];
    actionLines.set(index, lines);
  }
  return lines[deletes ? 1 : 0];
}

/** A document id inside its quotes: as it is when nothing in it needs escaping, as JSON.stringify escapes it otherwise. */
function jsonId(body: JsonBytes, id: string): void {
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return body.utf8(JSON.stringify(id).slice(1, -1));
  }
  body.ascii(id);
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
