import { open, type FileHandle } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { Kafka, Producer } from 'kafkajs';
import { CdcError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { createTopics, listTopics } from '../core/kafka.ts';

/** One audited operation: who (a token id or `cli:<user>`, never a token), what, when, outcome. */
export interface AuditEntry {
  ts: string;
  service: string;
  who: string | null;
  remote?: string;
  action: string;
  params?: Record<string, unknown>;
  /** `started` precedes an allowed action (fail closed); then `ok` or `failed`. Refusals: `unauthenticated`, `forbidden`, `rate_limited`, `not_found`. */
  outcome: 'started' | 'ok' | 'failed' | 'unauthenticated' | 'forbidden' | 'rate_limited' | 'not_found';
  /** The requested path (cut to 200 characters) when `action` is `unknown`. */
  path?: string;
  /** A summary of refusals (RefusalAudit): how many, between when. */
  count?: number;
  window?: { from: string; to: string };
  status?: number;
  error?: { code: string; message: string };
  result?: unknown;
}

export interface AuditSettings {
  AUDIT_LOG_FILE?: string | undefined;
  AUDIT_TOPIC?: string | undefined;
}

/**
 * Appends audit entries to the service log and, when configured, to a JSON-lines file (each
 * entry fsync'd before record() returns) and a Kafka topic (acknowledged by all replicas).
 * A failure to record is an AUDIT_UNAVAILABLE error: callers do not act without a record.
 */
export class AuditLog {
  readonly #service: string;
  readonly #settings: AuditSettings;
  readonly #log: Logger;
  readonly #kafka: Kafka | undefined;
  #file: Promise<FileHandle> | undefined;
  #producer: Promise<Producer> | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(service: string, settings: AuditSettings, log: Logger, kafka?: Kafka) {
    this.#service = service;
    this.#settings = settings;
    this.#log = log.child({ component: 'audit' });
    this.#kafka = kafka;
  }

  /** Records entries one at a time, in call order. */
  record(entry: Omit<AuditEntry, 'ts' | 'service'>): Promise<void> {
    return this.recordAll([entry]);
  }

  /** Records several entries with one fsync and one Kafka request, after those recorded before. */
  recordAll(entries: Array<Omit<AuditEntry, 'ts' | 'service'>>): Promise<void> {
    const ts = new Date().toISOString();
    const full = entries.map((entry): AuditEntry => ({ ts, service: this.#service, ...entry }));
    const done = this.#queue.then(() => this.#write(full));
    this.#queue = done.catch(() => undefined);
    return done;
  }

  async #write(entries: AuditEntry[]): Promise<void> {
    const lines = entries.map((entry) => JSON.stringify(entry, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    lines.forEach((line, i) => {
      this.#log.info({ audit: JSON.parse(line) as unknown }, `audit: ${entries[i]!.action} ${entries[i]!.outcome}`);
    });
    try {
      if (this.#settings.AUDIT_LOG_FILE) {
        this.#file ??= open(this.#settings.AUDIT_LOG_FILE, 'a', 0o600);
        const file = await this.#file;
        await file.appendFile(lines.map((line) => `${line}\n`).join(''));
        await file.datasync();
      }
      if (this.#settings.AUDIT_TOPIC && this.#kafka) {
        this.#producer ??= this.#connect(this.#kafka, this.#settings.AUDIT_TOPIC);
        const producer = await this.#producer;
        await producer.send({ topic: this.#settings.AUDIT_TOPIC, acks: -1, messages: lines.map((value) => ({ key: this.#service, value })) });
      }
    } catch (error) {
      // A failed open or connect is tried again with the next entry.
      this.#file = undefined;
      this.#producer = undefined;
      throw new CdcError('AUDIT_UNAVAILABLE', `Cannot write the audit log: ${errorMessage(error)}`, {
        cause: error,
        retriable: true,
        hint: 'Check AUDIT_LOG_FILE (directory, permissions, free space) and AUDIT_TOPIC (Kafka reachable); the action was not performed.',
      });
    }
  }

  async #connect(kafka: Kafka, topic: string): Promise<Producer> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      if (!(await listTopics(admin)).includes(topic)) await createTopics(admin, { waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    } finally {
      await admin.disconnect();
    }
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    return producer;
  }

  async close(): Promise<void> {
    await this.#queue;
    await (await this.#file?.catch(() => undefined))?.close();
    await (await this.#producer?.catch(() => undefined))?.disconnect();
  }
}

/** Who runs a command-line operation, for its audit entries. */
export function cliActor(): string {
  return `cli:${process.env.USER ?? userInfo().username}`;
}

/** What an audited operation is and who asked for it. */
export type AuditSubject = Pick<AuditEntry, 'who' | 'remote' | 'action' | 'params'>;

/**
 * Runs an operation (admin call, replay, offset reset) between a `started` and an `ok`/`failed`
 * audit entry; when the first entry cannot be written the operation does not run.
 */
export async function audited<T>(audit: AuditLog, subject: AuditSubject, work: () => Promise<T>, summary: (result: T) => unknown = (r) => r): Promise<T> {
  await audit.record({ ...subject, outcome: 'started' });
  try {
    const result = await work();
    await audit.record({ ...subject, outcome: 'ok', result: summary(result) });
    return result;
  } catch (error) {
    const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
    await audit.record({ ...subject, outcome: 'failed', error: { code: cdc.code, message: cdc.message } }).catch(() => undefined);
    throw error;
  }
}
