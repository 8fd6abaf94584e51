/**
 * BENCH_ONLY=documents: what the sink spends per record from Kafka record to bulk action, in one
 * process, on the bench table's records (8 columns; keyed; inserts).
 *
 * The same framed Avro records go through RecordDecoder and actionsOf both ways, interleaved:
 * - decoding (the baseline): avsc decodes the envelope into row objects, then documentJson
 *   serializes the after image (the path with sink transforms, soft deletes or metadata fields);
 * - direct: avro-documents.ts writes the document's JSON text from the record's bytes (the
 *   default settings).
 * The best of many short interleaved runs is printed (the median too), in microseconds per record,
 * and direct ÷ decoding. Types come from the source's own schema derivation, no registry needed.
 */
import type { Type } from 'avsc';
import type { KafkaMessage } from 'kafkajs';
import { avroType } from '../src/core/avro-types.ts';
import { encodeFramed } from '../src/core/avro-wire.ts';
import type { Registry } from '../src/core/schema-registry.ts';
import { documentLength } from '../src/sink/bulk-writer.ts';
import { planActions } from '../src/sink/record-actions.ts';
import { RecordDecoder } from '../src/sink/record-decoder.ts';
import { envelopeSchema, keySchema } from '../src/source/avro-schema.ts';
import { sinkRecordSettings } from '../test/helpers/change-events.ts';
import { benchEvents } from './events-table.ts';

const RECORDS = Number(process.env.BENCH_DOCUMENT_RECORDS ?? 50_000);
const RUNS = Number(process.env.BENCH_DOCUMENT_RUNS ?? 15);

/** The bench table's inserts as the source frames them (Avro envelope and key; source block as the source fills it). */
function records(): { messages: KafkaMessage[]; types: Map<number, Type> } {
  const events = benchEvents(RECORDS);
  const schema = events[0]!.schema;
  const value = avroType(envelopeSchema('cdc', schema) as never);
  const key = avroType(keySchema('cdc', schema) as never);
  const messages = events.map((event) => {
    const { position } = event;
    const source = {
      version: '1',
      connector: 'mariadb',
      name: 'cdc',
      source_id: 'bench',
      ts_ms: event.tsMs,
      snapshot: event.snapshot,
      db: schema.database,
      table: schema.table,
      server_id: event.serverId,
      gtid: event.gtid ?? null,
      file: position.file,
      pos: position.pos,
      row: position.row,
      epoch: 0,
    };
    // Copies, as kafkajs hands each record a view of its own.
    return {
      key: Buffer.from(encodeFramed(2, key, { id: event.after!.id })),
      value: Buffer.from(encodeFramed(1, value, { before: null, after: event.after, source, op: event.op, ts_ms: null })),
    } as unknown as KafkaMessage;
  });
  return {
    messages,
    types: new Map([
      [1, value],
      [2, key],
    ]),
  };
}

export async function documentsBench(): Promise<void> {
  const { messages, types } = records();
  const decoder = new RecordDecoder({ avroType: async (id: number) => types.get(id)! } as unknown as Registry);
  await decoder.prepare(messages.slice(0, 1));
  const paths = [
    { name: 'decoding', render: false, settings: sinkRecordSettings(), times: [] as number[] },
    { name: 'direct', render: true, settings: sinkRecordSettings({ renderDocuments: true }), times: [] as number[] },
  ];
  let bytes = 0;
  for (let run = 0; run < RUNS; run++) {
    for (const path of paths) {
      const started = process.hrtime.bigint();
      for (const message of messages) {
        const planned = planActions(decoder.decode(message, 'cdc.bench.events', path.render), path.settings, message);
        if (typeof planned !== 'string') bytes += documentLength('actions' in planned ? planned.actions[0]! : planned);
      }
      path.times.push(Number(process.hrtime.bigint() - started) / 1000 / RECORDS);
    }
  }
  const [decoding, direct] = paths.map(({ times }) => {
    const sorted = [...times].sort((a, b) => a - b);
    return { best: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]! };
  });
  console.log(`record → bulk action in process (${RECORDS} records, best of ${RUNS} interleaved runs; median in brackets; ${(bytes / RUNS / 2 / RECORDS).toFixed(0)} document bytes per record):`);
  console.log(
    `  decoding path (row objects, then JSON) ${decoding!.best.toFixed(2)} µs (${decoding!.median.toFixed(2)}); direct from the Avro bytes ${direct!.best.toFixed(2)} µs (${direct!.median.toFixed(2)})`,
  );
  console.log(`  ratio direct ÷ decoding: ${(direct!.best / decoding!.best).toFixed(3)} (median ${(direct!.median / decoding!.median).toFixed(3)})`);
}
