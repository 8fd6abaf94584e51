import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type avro from 'avsc';
import { Counter } from 'prom-client';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { CdcError, errorMessage } from '../core/errors.ts';
import { kafkaError } from '../core/kafka.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import type { Registry } from '../core/schema-registry.ts';
import { redactConfig } from '../config/env.ts';
import { fileSinkSpec, type FileSinkConfig } from '../config/file-connector.ts';
import type { Readiness } from '../core/probe.ts';
import { ServiceBase } from '../core/service-base.ts';
import { connectorClients } from './connector-clients.ts';
import { archiveHeaders, archivePayload, schemaIdOf, type ArchiveLine } from './archive-format.ts';

/** An archive file being written: `.open` until rotated, then renamed to `.jsonl`. */
interface OpenFile {
  path: string;
  fd: number;
  bytes: number;
  openedAt: number;
  /** Schema ids already described in this file (each file is self-contained). */
  schemas: Set<number>;
}

const OPEN_SUFFIX = '.jsonl.open';

/**
 * `cdc file-sink`: archives topics as JSON lines, one file series per topic and partition,
 * named by the first offset they hold so that names sort in offset order. Lines are written and
 * fsynced before the group's offsets are committed, so a crash repeats lines (same topic,
 * partition and offset; `cdc file-source` skips them) but never loses one. A file is renamed from
 * `.jsonl.open` to `.jsonl` when it rotates or the sink stops; a crashed `.open` file is cut back
 * to its last whole line and completed at the next start.
 */
export class FileSinkService extends ServiceBase<'running'> {
  readonly metrics;
  readonly #config: FileSinkConfig;
  readonly #log: Logger;
  readonly #kafka: Kafka;
  readonly #registry: Registry;
  readonly #files = new Map<string, OpenFile>();
  readonly #types = new Map<number, avro.Type>();
  #consumer: Consumer | undefined;
  readonly #counts = new Map<string, number>();

  constructor(config: FileSinkConfig, log: Logger) {
    super('file-sink');
    this.#config = config;
    this.#log = log;
    const clients = connectorClients(config, log);
    this.#kafka = clients.kafka;
    this.#registry = clients.registry;
    const registry = clients.metrics;
    this.metrics = {
      registry,
      records: new Counter({ name: 'cdc_file_sink_records_total', help: 'Records written and fsynced to archive files', labelNames: ['topic'], registers: [registry] }),
      files: new Counter({ name: 'cdc_file_sink_files_total', help: 'Archive files completed', registers: [registry] }),
    };
  }

  async run(): Promise<void> {
    // Archives hold whole records: owner-only, whatever the umask.
    mkdirSync(this.#config.FILE_SINK_DIR, { recursive: true, mode: 0o700 });
    this.#completeCrashedFiles();
    const consumer = this.#kafka.consumer({ groupId: this.#config.FILE_SINK_GROUP_ID, readUncommitted: false, maxWaitTimeInMs: 250 });
    this.#consumer = consumer;
    const crashed = new Promise<never>((_, reject) =>
      consumer.on(consumer.events.CRASH, (event: { payload: { error: Error; restart: boolean } }) => {
        if (!event.payload.restart) reject(kafkaError(event.payload.error, 'file-sink consumer'));
      }),
    );
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: this.#config.FILE_SINK_TOPICS, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async ({ batch, heartbeat }) => {
          if (batch.messages.length === 0) return;
          const file = await this.#write(batch.topic, batch.partition, batch.messages);
          fsyncSync(file.fd);
          const next = (BigInt(batch.messages.at(-1)!.offset) + 1n).toString();
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next }]);
          this.metrics.records.inc({ topic: batch.topic }, batch.messages.length);
          this.#counts.set(batch.topic, (this.#counts.get(batch.topic) ?? 0) + batch.messages.length);
          if (Date.now() - file.openedAt >= this.#config.FILE_ROTATE_MS) this.#complete(`${batch.topic}/${batch.partition}`);
          await heartbeat();
        },
      });
      this.state = 'running';
      await Promise.race([crashed, new Promise((resolve) => this.stopSignal.addEventListener('abort', resolve, { once: true }))]);
    } catch (error) {
      const cdc = this.fail(error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error }));
      this.#log.error(errorFields(cdc), 'file-sink failed');
      throw cdc;
    } finally {
      await consumer.disconnect().catch(() => undefined);
      for (const key of [...this.#files.keys()]) this.#complete(key);
      if (this.state !== 'failed') this.state = 'stopped';
    }
  }

  /** Appends `messages` as lines, rotating between records; returns the file written last (not yet fsynced). */
  async #write(topic: string, partition: number, messages: KafkaMessage[]): Promise<OpenFile> {
    const key = `${topic}/${partition}`;
    let file = this.#files.get(key);
    let text = '';
    const line = (value: ArchiveLine) => {
      text += `${JSON.stringify(value)}\n`;
    };
    const flush = () => {
      const buffer = Buffer.from(text);
      writeSync(file!.fd, buffer);
      file!.bytes += buffer.length;
      text = '';
    };
    for (const message of messages) {
      if (file && file.bytes + text.length >= this.#config.FILE_ROTATE_BYTES) {
        flush();
        this.#complete(key);
        file = undefined;
      }
      if (!file) {
        const dir = join(this.#config.FILE_SINK_DIR, topic);
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const path = join(dir, `${partition}-${message.offset.padStart(20, '0')}${OPEN_SUFFIX}`);
        file = { path, fd: openSync(path, 'a', 0o600), bytes: 0, openedAt: Date.now(), schemas: new Set() };
        this.#files.set(key, file);
      }
      for (const payload of [message.key, message.value]) {
        const id = payload ? schemaIdOf(payload) : undefined;
        if (id === undefined || file.schemas.has(id)) continue;
        if (await this.#type(id)) line({ type: 'schema', id, schema: await this.#registry.schemaText(id) });
        file.schemas.add(id);
      }
      line({
        type: 'record',
        topic,
        partition,
        offset: message.offset,
        timestamp: message.timestamp,
        key: message.key ? archivePayload(message.key, this.#types.get(schemaIdOf(message.key) ?? -1)) : null,
        value: message.value ? archivePayload(message.value, this.#types.get(schemaIdOf(message.value) ?? -1)) : null,
        headers: archiveHeaders(message.headers),
      });
    }
    flush();
    return file!;
  }

  /** The Avro type of a registry id (undefined for an unknown id: the payload is archived raw). */
  async #type(id: number): Promise<avro.Type | undefined> {
    if (!this.#types.has(id)) {
      try {
        this.#types.set(id, await this.#registry.avroType(id));
      } catch (error) {
        // Only an id the registry does not know is archived raw; an unreachable registry fails the batch, which is fetched again.
        if (!(error instanceof CdcError) || error.code !== 'REGISTRY_REJECTED') throw error;
        this.#log.warn({ schemaId: id, err: errorMessage(error) }, 'schema id unknown to the registry: payloads archived as raw bytes');
        return undefined;
      }
    }
    return this.#types.get(id);
  }

  #complete(key: string): void {
    const file = this.#files.get(key);
    if (!file) return;
    fsyncSync(file.fd);
    closeSync(file.fd);
    renameSync(file.path, file.path.slice(0, -'.open'.length));
    this.#files.delete(key);
    this.metrics.files.inc();
  }

  /** A crash can leave an `.open` file whose last line is cut: keep its whole lines and complete it. */
  #completeCrashedFiles(): void {
    for (const topic of readdirSync(this.#config.FILE_SINK_DIR, { withFileTypes: true }).filter((d) => d.isDirectory())) {
      const dir = join(this.#config.FILE_SINK_DIR, topic.name);
      for (const name of readdirSync(dir).filter((n) => n.endsWith(OPEN_SUFFIX))) {
        const path = join(dir, name);
        const content = readFileSync(path);
        truncateSync(path, content.lastIndexOf(0x0a) + 1);
        renameSync(path, path.slice(0, -'.open'.length));
        this.#log.warn({ file: path }, 'completed an archive file left open by a crash');
      }
    }
  }

  ready(): Readiness {
    return this.readinessOf(['running'], [], {});
  }

  status(): unknown {
    return this.statusOf({ records: Object.fromEntries(this.#counts), openFiles: [...this.#files.values()].map((f) => f.path) }, redactConfig(fileSinkSpec, this.#config));
  }
}
