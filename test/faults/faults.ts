import { setTimeout as sleep } from 'node:timers/promises';
import { testKafka } from '../helpers/kafka.ts';
import { waitReady } from '../helpers/services.ts';
import { within } from '../helpers/wait.ts';
import { signalService, stackAsync } from '../helpers/stack.ts';
import type { BulkFaultProxy } from './bulk-429-proxy.ts';
import type { Slot } from './cluster.ts';
import type { Random } from './random.ts';
import type { Workload } from './workload.ts';

/** Every kind of fault; a default run injects each at least once (the first round is one of each, shuffled). */
export const FAULT_KINDS = [
  'source-kill9',
  'source-sigterm',
  'sink-kill9',
  'sink-sigterm',
  'source-fence',
  'kafka-restart',
  'kafka-kill9-in-transaction',
  'registry-restart',
  'elasticsearch-restart',
  'elasticsearch-429',
  'mariadb-restart',
  'mariadb-sigstop',
  'kafka-sigstop',
  'elasticsearch-sigstop',
  'poison-record',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Poison {
  topic: string;
  value: Buffer;
  /** The send failed (a broker stopped or hung): the record may or may not have been written. */
  ambiguous: boolean;
}

export interface FaultContext {
  rng: Random;
  seed: number;
  source: Slot;
  sinks: Slot[];
  /** In front of the first sink's Elasticsearch: answers 429 for some bulk items during a 429 phase. */
  proxy: BulkFaultProxy;
  workload: Workload;
  /** Table topics that exist (a poison record goes into one of them). */
  topics: () => string[];
  poisons: Poison[];
}

/** Milliseconds a service stays down or hung. */
const outage = (rng: Random) => rng.int(1_000, 8_000);

async function restart(name: 'kafka' | 'registry' | 'elasticsearch' | 'mariadb', ms: number): Promise<string> {
  await stackAsync('stop', name);
  await sleep(ms);
  await stackAsync('start', name);
  return `${name} down ${(ms / 1000).toFixed(1)} s`;
}

async function hang(name: 'kafka' | 'elasticsearch' | 'mariadb', ms: number): Promise<string> {
  signalService(name, 'SIGSTOP');
  try {
    await sleep(ms);
  } finally {
    signalService(name, 'SIGCONT');
  }
  return `${name} stopped (SIGSTOP) ${(ms / 1000).toFixed(1)} s`;
}

/** Injects one fault and heals it; resolves with what was done, once every service is back. */
export async function inject(kind: FaultKind, ctx: FaultContext): Promise<string> {
  const { rng } = ctx;
  switch (kind) {
    case 'source-kill9':
    case 'source-sigterm': {
      await ctx.source.stop(kind === 'source-kill9' ? 'SIGKILL' : 'SIGTERM');
      await sleep(rng.int(0, 2_000));
      await ctx.source.ensureStarted();
      return 'source restarted';
    }
    case 'sink-kill9':
    case 'sink-sigterm': {
      const i = rng.int(0, ctx.sinks.length - 1);
      await ctx.sinks[i]!.stop(kind === 'sink-kill9' ? 'SIGKILL' : 'SIGTERM');
      // long enough, often, for the group to rebalance onto the other sink first
      await sleep(rng.int(0, 12_000));
      await ctx.sinks[i]!.ensureStarted();
      return `${ctx.sinks[i]!.name} restarted`;
    }
    case 'source-fence': {
      // Whichever instance learns first that the other holds SOURCE_ID stops fenced, and only one
      // goes on: normally the first, at its next Kafka transaction (the workload makes one soon);
      // when the broker leaves that commit unresolved, the first restarts and fences the twin.
      const old = ctx.source.current!;
      ctx.source.expect(old, 'fenced');
      const twin = ctx.source.spawnTwin();
      ctx.source.expect(twin, 'fenced');
      const fencedOne = await within(Promise.race([old.exited.then(() => old), twin.exited.then(() => twin)]), 300_000, undefined);
      if (!fencedOne) {
        await old.stop('SIGKILL'); // its exit record shows it was not fenced
        ctx.source.forget(twin);
        ctx.source.current = twin;
        return 'neither source was fenced within 300 s (the first was killed)';
      }
      const survivor = fencedOne === old ? twin : old;
      ctx.source.forget(survivor);
      if (survivor === twin) await waitReady(twin, 180_000);
      ctx.source.current = survivor;
      return fencedOne === old ? 'the first source exited, fenced' : 'the twin exited, fenced (the first restarted after an unresolved commit)';
    }
    case 'kafka-restart':
      return restart('kafka', outage(rng));
    case 'kafka-kill9-in-transaction': {
      // The moment a 5,000-row MariaDB transaction commits, the source is writing it into one Kafka transaction.
      await ctx.workload.bigTransaction(5_000, false);
      signalService('kafka', 'SIGKILL');
      const ms = outage(rng);
      await sleep(ms);
      await stackAsync('start', 'kafka');
      return `kafka SIGKILLed right after a 5,000-row commit, down ${(ms / 1000).toFixed(1)} s`;
    }
    case 'registry-restart':
      return restart('registry', outage(rng));
    case 'elasticsearch-restart':
      return restart('elasticsearch', outage(rng));
    case 'elasticsearch-429': {
      const before = ctx.proxy.rejected;
      const every = rng.int(2, 4);
      const ms = rng.int(5_000, 15_000);
      ctx.proxy.setEveryNth(every);
      await sleep(ms);
      ctx.proxy.setEveryNth(0);
      return `one bulk item in ${every} answered 429 for ${(ms / 1000).toFixed(1)} s (${ctx.proxy.rejected - before} items rejected)`;
    }
    case 'mariadb-restart':
      return restart('mariadb', rng.int(500, 5_000));
    case 'mariadb-sigstop':
      return hang('mariadb', outage(rng));
    case 'kafka-sigstop':
      return hang('kafka', outage(rng));
    case 'elasticsearch-sigstop':
      return hang('elasticsearch', outage(rng));
    case 'poison-record': {
      const topics = ctx.topics();
      const topic = rng.pick(topics);
      // Neither Confluent-framed Avro (0x00) nor JSON ('{'): no decoder takes it.
      const value = Buffer.from(`poison ${ctx.seed} #${ctx.poisons.length + 1} \u00ff`, 'utf8');
      // Idempotent, so that a retried send cannot write it twice; a send that fails (Kafka may be
      // down) may still have written it, so it is then expected at most once instead of once.
      const producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 });
      const poison: Poison = { topic, value, ambiguous: true };
      ctx.poisons.push(poison);
      try {
        await producer.connect();
        await producer.send({ topic, messages: [{ key: Buffer.from(`poison-${ctx.poisons.length}`), value }] });
        poison.ambiguous = false;
      } finally {
        await producer.disconnect().catch(() => undefined);
      }
      return `into ${topic}`;
    }
  }
}

/** Leaves the stack as it was: nothing hung, every service running (after a failed run too). */
export async function healAll(): Promise<void> {
  for (const name of ['mariadb', 'kafka', 'elasticsearch'] as const) {
    try {
      signalService(name, 'SIGCONT');
    } catch {
      // not running: started below
    }
  }
  for (const name of ['mariadb', 'kafka', 'registry', 'elasticsearch'] as const) await stackAsync('start', name);
}
