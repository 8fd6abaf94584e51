/**
 * BENCH_ONLY=transforms: what the transform chain costs per event, in one process.
 *
 * N change events of the bench table (8 columns) go through the source's real path after the
 * binlog: the transform step, then the EventEncoder (Avro, Confluent framing; schemas registered
 * once in the stack's registry, then served from the client's cache). Interleaved runs of
 * - no chain (the baseline),
 * - a chain of four transforms: route, filter (keeps every event, so all four do work),
 *   rename, insert (static value and position),
 * - masking: one column hashed, one masked,
 * each also measured without the encoder (the chain alone). The best of many short interleaved
 * runs is printed (the median too), with ratios to the baseline and the cost per event and per
 * transform in microseconds.
 */
import type { ChangeEvent } from '../src/core/change-event.ts';
import { Registry } from '../src/core/schema-registry.ts';
import { loadConfig } from '../src/config/env.ts';
import { sourceSpec } from '../src/config/source.ts';
import { EventEncoder } from '../src/source/event-encoder.ts';
import { sourceTransform } from '../src/source/source-transform.ts';
import type { Transform } from '../src/transforms/transform.ts';
import { uniqueName } from '../test/helpers/services.ts';
import { stackEnv } from '../test/helpers/stack.ts';
import { benchEvents } from './events-table.ts';
import { best, median } from './stats.ts';

const EVENTS = Number(process.env.BENCH_TRANSFORM_EVENTS ?? 50_000);
/** Many short interleaved runs: on a shared machine contention only ever adds time, so the best run is the cost. */
const RUNS = Number(process.env.BENCH_TRANSFORM_RUNS ?? 15);

/** What the encoder hands on is dropped: the bench times the transform and the encoding. */
const drop = () => undefined;

/** Encodes as the dispatcher does: synchronously once the table's schemas are prepared, awaiting only the first time. */
async function rate(events: ChangeEvent[], transform: Transform, encoder: EventEncoder | undefined): Promise<number> {
  const started = performance.now();
  for (const event of events) {
    const out = transform(event);
    if (!out || !encoder || encoder.encodeIfPrepared(out, false, drop)) continue;
    await encoder.prepare(out);
    encoder.encodeChange(out, false, drop);
  }
  return events.length / ((performance.now() - started) / 1000);
}

export async function transformsBench(): Promise<void> {
  const prefix = uniqueName('bench').toLowerCase();
  const env = { SOURCE_ID: 'bench', MYSQL_HOST: 'x', MYSQL_USER: 'x', KAFKA_BROKERS: 'x:1', SCHEMA_REGISTRY_URL: stackEnv().SCHEMA_REGISTRY_URL, TOPIC_PREFIX: prefix };
  const chains: Record<string, Record<string, string>> = {
    'no chain': {},
    'chain of four (route, filter, rename, insert)': {
      TRANSFORMS: 'route,filter,rename,insert',
      TRANSFORMS_ROUTE_TYPE: 'route',
      TRANSFORMS_ROUTE_REGEX: `${prefix}\\.bench\\.(.*)`,
      TRANSFORMS_ROUTE_REPLACEMENT: `${prefix}.routed.$1`,
      TRANSFORMS_FILTER_TYPE: 'filter',
      TRANSFORMS_FILTER_FIELD: 'amount',
      TRANSFORMS_FILTER_OPERATOR: 'ge',
      TRANSFORMS_FILTER_VALUE: '0',
      TRANSFORMS_RENAME_TYPE: 'rename',
      TRANSFORMS_RENAME_RENAMES: 'account:account_id,note:comment',
      TRANSFORMS_INSERT_TYPE: 'insert',
      TRANSFORMS_INSERT_STATIC_FIELD: 'region',
      TRANSFORMS_INSERT_STATIC_VALUE: 'eu',
      TRANSFORMS_INSERT_POSITION_FIELD: 'src_pos',
    },
    'masking (hash one column, mask one)': { COLUMN_HASH: 'bench\\.events\\.account', COLUMN_HASH_SALT: 'bench-salt', COLUMN_MASK: 'bench\\.events\\.note' },
  };
  const transforms = Object.fromEntries(Object.entries(chains).map(([name, extra]) => [name, sourceTransform(loadConfig(sourceSpec, { ...env, ...extra }))]));
  const encoder = new EventEncoder(new Registry({ url: env.SCHEMA_REGISTRY_URL }), {
    prefix,
    sourceId: 'bench',
    connector: 'mariadb',
    compatibility: 'BACKWARD',
    version: 'bench',
    converter: 'avro',
    epoch: 0,
  });
  const events = benchEvents(EVENTS);
  // Warm up: JIT, and the registrations of every chain's schema.
  for (const transform of Object.values(transforms)) await rate(events.slice(0, 20_000), transform, encoder);
  const results: Record<string, { alone: number[]; encoded: number[] }> = Object.fromEntries(Object.keys(chains).map((name) => [name, { alone: [], encoded: [] }]));
  for (let run = 0; run < RUNS; run++) {
    for (const [name, transform] of Object.entries(transforms)) {
      results[name]!.alone.push(await rate(events, transform, undefined));
      results[name]!.encoded.push(await rate(events, transform, encoder));
    }
  }
  const none = results['no chain']!;
  console.log(`transforms, in process (${EVENTS} events of 8 columns, best and median of ${RUNS} interleaved runs):`);
  console.log(`  no chain + Avro encoder: ${best(none.encoded).toFixed(0)} events/s (median ${median(none.encoded).toFixed(0)})`);
  for (const [name, { alone, encoded }] of Object.entries(results)) {
    if (name === 'no chain') continue;
    const steps = name.startsWith('chain of four') ? 4 : 2;
    const costUs = (1 / best(alone) - 1 / best(none.alone)) * 1e6;
    console.log(
      `  ${name}: alone ${best(alone).toFixed(0)} events/s = ${costUs.toFixed(2)} µs/event, ${(costUs / steps).toFixed(2)} µs per step;` +
        ` + Avro encoder ${best(encoded).toFixed(0)} events/s (median ${median(encoded).toFixed(0)}), ratio ÷ no chain ${(best(encoded) / best(none.encoded)).toFixed(3)} (median ${(median(encoded) / median(none.encoded)).toFixed(3)})`,
    );
  }
}
