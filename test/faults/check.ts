import type mysql from 'mysql2/promise';
import { docAsText } from '../helpers/demo-tables.ts';
import { dumpIndex, type IndexedDoc } from '../helpers/elasticsearch.ts';
import { readTopic } from '../helpers/kafka.ts';
import { rows } from '../helpers/mysql.ts';
import { type ChangeSource, changeVersion, type Pipeline } from '../helpers/pipeline.ts';
import { rowMismatches, selectSql } from '../helpers/type-matrix.ts';
import type { ExitRecord } from './cluster.ts';
import type { Poison } from './faults.ts';
import type { Workload, WorkloadTable } from './workload.ts';

/** Problems found by one part of the end check, by category; `samples` keeps the first few of each. */
export class Findings {
  readonly counts = new Map<string, number>();
  readonly samples = new Map<string, string[]>();

  add(category: string, text: string): void {
    this.counts.set(category, (this.counts.get(category) ?? 0) + 1);
    const list = this.samples.get(category) ?? [];
    if (list.length < 5) list.push(text);
    this.samples.set(category, list);
  }

  merge(other: Findings): void {
    for (const [category, count] of other.counts) {
      this.counts.set(category, (this.counts.get(category) ?? 0) + count);
      this.samples.set(category, [...(this.samples.get(category) ?? []), ...(other.samples.get(category) ?? [])].slice(0, 5));
    }
  }

  get total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
}

export interface TableComparison {
  rows: number;
  columns: number;
  findings: Findings;
  /** Every table's documents by row identity (id, or n for the keyless table). */
  docs: Map<string, Map<string, IndexedDoc>>;
}

const identityOf = (table: WorkloadTable, image: Record<string, unknown>) => String(image[table.identity]);

/**
 * MariaDB against Elasticsearch, row by row and column by column with the type matrix's rules:
 * a row without its document, a document without its row (deleted or never written), and every
 * differing column are findings.
 */
export async function compareTables(conn: mysql.Connection, workload: Workload, indexOf: (table: string) => string): Promise<TableComparison> {
  const findings = new Findings();
  const docs = new Map<string, Map<string, IndexedDoc>>();
  let rowCount = 0;
  let columns = 0;
  for (const table of workload.tables) {
    const selected = await rows(conn, table.keyless ? `SELECT ${table.columns.map((c) => c.name).join(', ')} FROM ${table.name}` : selectSql(table));
    const byIdentity = new Map<string, IndexedDoc>();
    for (const doc of (await dumpIndex(indexOf(table.name))).values()) {
      const id = identityOf(table, doc.source);
      if (byIdentity.has(id)) findings.add('duplicate documents', `${table.name} ${table.identity}=${id}: documents ${byIdentity.get(id)!.id} and ${doc.id}`);
      byIdentity.set(id, doc);
    }
    docs.set(table.name, byIdentity);
    const seen = new Set<string>();
    for (const row of selected) {
      const id = identityOf(table, row);
      seen.add(id);
      rowCount += 1;
      columns += table.columns.length + (table.keyless ? 0 : 1);
      const doc = byIdentity.get(id);
      if (!doc) findings.add('rows missing in Elasticsearch', `${table.name} ${table.identity}=${id}`);
      else for (const problem of rowMismatches(table, id, row, doc.source, 'es')) findings.add('column differences', problem);
    }
    for (const [id, doc] of byIdentity)
      if (!seen.has(id)) findings.add('deleted rows in Elasticsearch', `${table.name} ${table.identity}=${id}: ${JSON.stringify(docAsText(doc.source)).slice(0, 200)}`);
  }
  return { rows: rowCount, columns, findings, docs };
}

interface KafkaChange {
  entry: string;
  version: bigint;
}

/**
 * Read with read_committed, each table topic must hold every logged change exactly once, in commit
 * order per row (the keyless table's changes are all on partition 0, in binlog order, so they are
 * compared as read); every document's `_version` must be that of its row's last
 * change; the only undecodable records are the injected poison ones.
 */
export async function checkKafka(workload: Workload, pipeline: Pipeline, docs: Map<string, Map<string, IndexedDoc>>, poisons: Poison[], findings: Findings): Promise<number> {
  let changes = 0;
  for (const table of workload.tables) {
    const topic = pipeline.topicOf(table.name);
    const records = await readTopic(topic, 600_000, { keepUndecodable: true });
    const byId = new Map<string, KafkaChange[]>();
    const poisonHere = poisons.filter((p) => p.topic === topic).map((p) => p.value.toString('base64'));
    for (const record of records) {
      if (record.undecodable) {
        const at = poisonHere.indexOf(record.value?.toString('base64') ?? '');
        if (at >= 0) poisonHere.splice(at, 1);
        else findings.add('undecodable records in Kafka', `${topic} offset ${record.offset}`);
        continue;
      }
      if (!record.decodedValue) continue; // tombstone
      const envelope = record.decodedValue as { op: string; before: Record<string, unknown> | null; after: Record<string, unknown> | null; source: ChangeSource };
      const image = (envelope.after ?? envelope.before)!;
      const id = identityOf(table, image);
      const list = byId.get(id) ?? [];
      list.push({ entry: `${envelope.op}:${String(image[table.tag])}`, version: changeVersion(envelope.source) });
      byId.set(id, list);
      changes += 1;
    }
    for (const value of poisonHere) {
      if (poisons.some((p) => p.ambiguous && p.topic === topic && p.value.toString('base64') === value)) continue;
      findings.add('poison records missing from their topic', `${topic}: ${Buffer.from(value, 'base64').toString('utf8')}`);
    }
    const expected = workload.changes.get(table.name)!;
    for (const [id, want] of expected) {
      const got = byId.get(id) ?? [];
      const entries = got.map((c) => c.entry);
      if (entries.join() === want.join()) continue;
      const kind = entries.length > want.length ? 'duplicated' : entries.length < want.length ? 'missing' : 'reordered or wrong';
      findings.add(`Kafka changes ${kind}`, `${table.name} ${table.identity}=${id}: expected [${want.join(' ')}], Kafka has [${entries.join(' ')}]`);
    }
    for (const [id, got] of byId) if (!expected.has(id)) findings.add('Kafka changes never made', `${table.name} ${table.identity}=${id}: [${got.map((c) => c.entry).join(' ')}]`);
    for (const [id, doc] of docs.get(table.name)!) {
      const last = byId.get(id)?.at(-1);
      if (last && doc.version !== last.version) findings.add('document versions', `${table.name} ${table.identity}=${id}: _version ${doc.version}, its last change ${last.entry} has ${last.version}`);
    }
  }
  return changes;
}

/**
 * The dead-letter topic holds exactly the poison records, each with its original topic in the
 * context headers. Dead-lettering is at least once (as in Kafka Connect): a sink stopped between
 * writing a dead letter and committing the offset writes it again after a restart or rebalance,
 * so letters with the same origin (topic, partition, offset) count once; the copies are reported.
 */
export async function checkDeadLetters(topic: string, poisons: Poison[], findings: Findings): Promise<{ letters: number; redelivered: number }> {
  const expected = poisons.map((p) => `${p.topic} ${p.value.toString('base64')}`);
  const letters = await readTopic(topic, 120_000, { keepUndecodable: true });
  const origins = new Set<string>();
  let redelivered = 0;
  for (const letter of letters) {
    const headers = letter.headers ?? {};
    const origin = `${headers['__connect.errors.topic']}/${headers['__connect.errors.partition']}/${headers['__connect.errors.offset']}`;
    if (origins.has(origin)) {
      redelivered += 1;
      continue;
    }
    origins.add(origin);
    const at = expected.indexOf(`${headers['__connect.errors.topic']} ${letter.value?.toString('base64')}`);
    if (at >= 0) expected.splice(at, 1);
    else findings.add('unexpected dead letters', `${origin}: ${headers['__connect.errors.exception.message']?.slice(0, 200)}`);
  }
  const ambiguous = poisons.filter((p) => p.ambiguous).map((p) => `${p.topic} ${p.value.toString('base64')}`);
  for (const missing of expected) if (!ambiguous.includes(missing)) findings.add('poison records not dead-lettered', missing);
  return { letters: letters.length, redelivered };
}

export function checkExits(exits: ExitRecord[], findings: Findings): void {
  for (const exit of exits)
    if (!exit.ok)
      findings.add(
        'unexpected exits',
        `${exit.service} pid ${exit.pid}: code ${exit.code} signal ${exit.signal}, expected ${exit.expected ?? 'to keep running'}; last lines: ${exit.lastLines.join(' | ').slice(-600)}`,
      );
}
