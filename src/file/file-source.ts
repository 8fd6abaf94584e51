import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type avro from 'avsc';
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { Counter } from 'prom-client';
import { avroType } from '../core/avro-types.ts';
import { encodeFramed } from '../core/avro-wire.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import { createTopics, kafkaError, listTopics } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import type { Registry } from '../core/schema-registry.ts';
import { readTopicToEnd } from '../core/topic-reader.ts';
import { offsetsTopic } from '../core/topics.ts';
import { redactConfig } from '../config/env.ts';
import { fileSourceSpec, type FileSourceConfig } from '../config/file-connector.ts';
import type { Readiness } from '../core/probe.ts';
import { ServiceBase } from '../core/service-base.ts';
import { connectorClients } from './connector-clients.ts';
import { parseLine, restoreHeaders, type ArchivedPayload, type RecordLine } from './archive-format.ts';
import { checkArchive } from './archive-guard.ts';

/** Lines per Kafka transaction (each with the progress that covers it). */
const LINES_PER_TRANSACTION = 2000;

/** Where a restore stands, stored in `<TOPIC_PREFIX>.offsets` under FILE_SOURCE_ID. */
interface RestoreProgress {
  /** Archive files done, by path relative to FILE_SOURCE_DIR. */
  done: string[];
  /** The file being restored and its next line (0-based). */
  current?: { file: string; line: number };
  /** Highest original offset restored per `topic/partition`: repeated lines of a crashed file-sink are skipped. */
  restored: Record<string, string>;
}

/**
 * `cdc file-source`: replays an archive of `cdc file-sink` into Kafka, in file order per topic and
 * partition, into the same partition numbers. Every schema is registered again under the target
 * topic's subjects and every value re-encoded from its archived Avro JSON with the new id, so a
 * fresh cluster and registry need nothing else. Records and progress go in one Kafka
 * transaction, so a restart neither loses nor repeats a line; it exits when the archive is done.
 */
export class FileSourceService extends ServiceBase<'restoring' | 'done'> {
  readonly metrics;
  readonly #config: FileSourceConfig;
  readonly #log: Logger;
  readonly #kafka: Kafka;
  readonly #registry: Registry;
  /** Archived schema text by archived id, per file (ids are only meaningful within their file's lines). */
  #schemas = new Map<number, string>();
  /** Target registry id by `subject + schema text`. */
  readonly #registered = new Map<string, { id: number; type: avro.Type }>();
  #progress: RestoreProgress = { done: [], restored: {} };

  constructor(config: FileSourceConfig, log: Logger) {
    super('file-source');
    this.#config = config;
    this.#log = log;
    const clients = connectorClients(config, log);
    this.#kafka = clients.kafka;
    this.#registry = clients.registry;
    const registry = clients.metrics;
    this.metrics = {
      registry,
      records: new Counter({ name: 'cdc_file_source_records_total', help: 'Archived records produced to Kafka', labelNames: ['topic'], registers: [registry] }),
      skipped: new Counter({ name: 'cdc_file_source_skipped_total', help: 'Archived records skipped as repeats of an offset already restored', registers: [registry] }),
    };
  }

  get offsetsTopic(): string {
    return offsetsTopic(this.#config.TOPIC_PREFIX);
  }

  async run(): Promise<void> {
    const producer = this.#kafka.producer({ transactionalId: `cdc-file-source-${this.#config.FILE_SOURCE_ID}`, idempotent: true, maxInFlightRequests: 1 });
    try {
      const files = this.#archiveFiles();
      checkArchive(this.#config.FILE_SOURCE_DIR, files, (topic) => this.#targetTopic(topic), this.#config.FILE_SOURCE_TOPIC_MAP);
      await this.#readProgress();
      await this.#ensureTopics(files);
      await producer.connect();
      this.state = 'restoring';
      this.#log.info({ files: files.length, done: this.#progress.done.length, current: this.#progress.current }, 'restoring archive');
      for (const file of files) {
        if (this.stopSignal.aborted) return;
        if (this.#progress.done.includes(file)) continue;
        await this.#restoreFile(producer, file);
      }
      this.state = 'done';
      this.#log.info({ files: files.length }, 'archive restored');
    } catch (error) {
      throw this.fail(error instanceof CdcError ? error : kafkaError(error, 'restoring the archive'));
    } finally {
      await producer.disconnect().catch(() => undefined);
    }
  }

  async #restoreFile(producer: Producer, file: string): Promise<void> {
    const lines = readFileSync(join(this.#config.FILE_SOURCE_DIR, file), 'utf8').split('\n');
    const [archivedTopic, name] = file.split('/') as [string, string];
    const partition = Number(name.split('-')[0]);
    if (lines.at(-1) === '') lines.pop();
    this.#schemas = new Map();
    const start = this.#progress.current?.file === file ? this.#progress.current.line : 0;
    // Schema lines before the resume point still describe the records after it.
    for (let i = 0; i < start; i++) {
      const line = parseLine(lines[i]!, file, i + 1);
      if (line.type === 'schema') this.#schemas.set(line.id, line.schema);
    }
    for (let from = start; from < lines.length; from += LINES_PER_TRANSACTION) {
      if (this.stopSignal.aborted) return;
      const messages = new Map<string, Array<Message & { partition: number }>>();
      const restored = { ...this.#progress.restored };
      const upTo = Math.min(lines.length, from + LINES_PER_TRANSACTION);
      for (let i = from; i < upTo; i++) {
        const line = parseLine(lines[i]!, file, i + 1);
        if (line.type === 'schema') {
          this.#schemas.set(line.id, line.schema);
          continue;
        }
        // The file's place in the layout decides where its records go (checkArchive made sure the lines agree).
        const topic = this.#targetTopic(archivedTopic);
        const partitionKey = `${topic}/${partition}`;
        if (restored[partitionKey] !== undefined && BigInt(line.offset) <= BigInt(restored[partitionKey])) {
          this.metrics.skipped.inc();
          continue;
        }
        restored[partitionKey] = line.offset;
        const list = messages.get(topic) ?? [];
        list.push({
          partition,
          key: await this.#encode(line, 'key', topic, file, i + 1),
          value: await this.#encode(line, 'value', topic, file, i + 1),
          headers: restoreHeaders(line.headers),
          timestamp: line.timestamp,
        });
        messages.set(topic, list);
      }
      const finished = upTo === lines.length;
      const progress: RestoreProgress = {
        done: finished ? [...this.#progress.done, file] : this.#progress.done,
        ...(finished ? {} : { current: { file, line: upTo } }),
        restored,
      };
      await this.#commit(producer, messages, progress);
      this.#progress = progress;
      for (const [topic, list] of messages) this.metrics.records.inc({ topic }, list.length);
    }
  }

  async #encode(line: RecordLine, role: 'key' | 'value', topic: string, file: string, lineNo: number): Promise<Buffer | null> {
    const payload: ArchivedPayload | null = line[role];
    if (!payload) return null;
    if ('base64' in payload) return Buffer.from(payload.base64, 'base64');
    const schema = this.#schemas.get(payload.schemaId);
    if (!schema)
      throw new CdcError('ARCHIVE_INVALID', `${file}:${lineNo} uses schema id ${payload.schemaId}, which no earlier line of the file describes`, {
        hint: 'Archives are written by `cdc file-sink`; restore whole files.',
      });
    const subject = `${topic}-${role}`;
    const cacheKey = `${subject}\u0000${schema}`;
    let target = this.#registered.get(cacheKey);
    if (!target) {
      target = { id: await this.#registry.register(subject, JSON.parse(schema) as object, 'BACKWARD'), type: avroType(JSON.parse(schema) as avro.Schema) };
      this.#registered.set(cacheKey, target);
    }
    try {
      return encodeFramed(target.id, target.type, target.type.fromString(JSON.stringify(payload.avro)));
    } catch (error) {
      throw new CdcError('ARCHIVE_INVALID', `${file}:${lineNo}: the archived ${role} does not match its schema: ${errorMessage(error)}`, { cause: error });
    }
  }

  async #commit(producer: Producer, messages: Map<string, Array<Message & { partition: number }>>, progress: RestoreProgress): Promise<void> {
    const transaction = await producer.transaction();
    try {
      const topicMessages = [...messages].map(([topic, list]) => ({ topic, messages: list }));
      topicMessages.push({ topic: this.offsetsTopic, messages: [{ key: this.#config.FILE_SOURCE_ID, value: JSON.stringify(progress), partition: 0 }] });
      await transaction.sendBatch({ topicMessages, compression: CompressionTypes.None });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw kafkaError(error, 'committing restored records');
    }
  }

  async #readProgress(): Promise<void> {
    await readTopicToEnd(this.#kafka, this.offsetsTopic, (message) => {
      if (message.key?.toString() === this.#config.FILE_SOURCE_ID && message.value) this.#progress = JSON.parse(message.value.toString()) as RestoreProgress;
    });
  }

  /** Completed archive files, `topic/partition-offset.jsonl`, in restore order. */
  #archiveFiles(): string[] {
    const root = this.#config.FILE_SOURCE_DIR;
    const files: string[] = [];
    for (const topic of readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort()) {
      const names = readdirSync(join(root, topic)).filter((n) => /^\d+-\d{20}\.jsonl$/.test(n));
      names.sort((a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]) || (a < b ? -1 : 1));
      files.push(...names.map((n) => `${topic}/${n}`));
    }
    if (files.length === 0)
      throw new CdcError('ARCHIVE_INVALID', `${root} holds no archive files (<topic>/<partition>-<offset>.jsonl)`, { hint: 'Point FILE_SOURCE_DIR at the FILE_SINK_DIR of a `cdc file-sink`.' });
    return files;
  }

  /** Creates missing target topics with as many partitions as the archive uses. */
  async #ensureTopics(files: string[]): Promise<void> {
    const partitions = new Map<string, number>();
    for (const file of files) {
      const [topic, name] = file.split('/') as [string, string];
      const target = this.#targetTopic(topic);
      partitions.set(target, Math.max(partitions.get(target) ?? 0, Number(name.split('-')[0]) + 1));
    }
    partitions.set(this.offsetsTopic, 1);
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const existing = new Set(await listTopics(admin));
      const missing = [...partitions].filter(([topic]) => !existing.has(topic));
      if (missing.length > 0) {
        await createTopics(admin, {
          waitForLeaders: true,
          topics: missing.map(([topic, numPartitions]) => ({ topic, numPartitions, ...(topic === this.offsetsTopic ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] } : {}) })),
        });
      }
    } catch (error) {
      throw kafkaError(error, 'creating the restore topics');
    } finally {
      await admin.disconnect();
    }
  }

  #targetTopic(topic: string): string {
    const mapped = this.#config.FILE_SOURCE_TOPIC_MAP?.get(topic);
    if (mapped) return mapped;
    const rename = this.#config.FILE_SOURCE_TOPIC_RENAME;
    if (!rename) return topic;
    const eq = rename.indexOf('=');
    return topic.replace(new RegExp(rename.slice(0, eq)), rename.slice(eq + 1));
  }

  ready(): Readiness {
    return this.readinessOf(['restoring', 'done'], [], {});
  }

  status(): unknown {
    return this.statusOf({ progress: this.#progress }, redactConfig(fileSourceSpec, this.#config));
  }
}
