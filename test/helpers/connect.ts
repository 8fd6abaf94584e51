import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot, stackEnv } from './stack.ts';
import { GiveUp, waitFor, within } from './wait.ts';

const run = promisify(execFile);

/**
 * Kafka Connect 4.1.1 standalone with Debezium's JDBC sink (and Apicurio's Avro converter), as
 * scripts/connect installs them; PostgreSQL on 127.0.0.1:5432 (trust authentication).
 */
export function installConnect(withSource = false): string {
  execFileSync('bash', [`${repoRoot}scripts/connect`, 'ensure-postgres'], { stdio: 'inherit' });
  return execFileSync('bash', [`${repoRoot}scripts/connect`, 'install', ...(withSource ? ['--with-source'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 })
    .trim()
    .split('\n')
    .at(-1)!;
}

export const POSTGRES = { host: '127.0.0.1', port: 5432, user: 'postgres' };

/** Rows of a query as JSON objects (psql, so the suite needs no PostgreSQL client library). */
export async function pgRows(database: string, sql: string): Promise<Array<Record<string, unknown>>> {
  const { stdout } = await run('psql', [
    '-h',
    POSTGRES.host,
    '-p',
    String(POSTGRES.port),
    '-U',
    POSTGRES.user,
    '-d',
    database,
    '-X',
    '-q',
    '-At',
    '-v',
    'ON_ERROR_STOP=1',
    '-c',
    `SELECT coalesce(json_agg(q), '[]') FROM (${sql}) q`,
  ]);
  return JSON.parse(stdout) as Array<Record<string, unknown>>;
}

export async function pgExec(database: string, sql: string): Promise<void> {
  await run('psql', ['-h', POSTGRES.host, '-p', String(POSTGRES.port), '-U', POSTGRES.user, '-d', database, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql]);
}

export async function freshPgDatabase(name: string): Promise<void> {
  await pgExec('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await pgExec('postgres', `CREATE DATABASE "${name}"`);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export type ConnectConverter = 'json' | 'avro';

/**
 * Debezium's JDBC sink writing one topic into one PostgreSQL table: upserts by the record key,
 * deletes from delete events (their tombstones are skipped), new columns added as they appear.
 */
export function jdbcSinkConnector(name: string, topic: string, pgDatabase: string, table: string): Record<string, string> {
  return {
    name,
    'connector.class': 'io.debezium.connector.jdbc.JdbcSinkConnector',
    'tasks.max': '1',
    topics: topic,
    'connection.url': `jdbc:postgresql://${POSTGRES.host}:${POSTGRES.port}/${pgDatabase}`,
    'connection.username': POSTGRES.user,
    'connection.password': POSTGRES.user, // trust authentication: any password
    'insert.mode': 'upsert',
    'primary.key.mode': 'record_key',
    'delete.enabled': 'true',
    'schema.evolution': 'basic',
    'collection.name.format': table,
    'use.time.zone': 'UTC',
  };
}

/** Worker settings of each converter, for keys and values alike. */
export function converterSettings(converter: ConnectConverter): Record<string, string> {
  if (converter === 'json') return { converter: 'org.apache.kafka.connect.json.JsonConverter', 'converter.schemas.enable': 'true' };
  // Apicurio 2.6's converter, in its Confluent mode: 4-byte ids after the magic byte, looked up as
  // the content ids Apicurio 3's Confluent API hands out, through its v2 API.
  return {
    converter: 'io.apicurio.registry.utils.converter.AvroConverter',
    'converter.apicurio.registry.url': stackEnv().SCHEMA_REGISTRY_URL.replace(/\/apis\/ccompat\/v7\/?$/, '/apis/registry/v2'),
    'converter.apicurio.registry.as-confluent': 'true',
    'converter.apicurio.registry.use-id': 'contentId',
    'converter.apicurio.registry.headers.enabled': 'false',
  };
}

export interface ConnectWorker {
  child: ChildProcess;
  log: string;
  restUrl: string;
  /** The connector's and its tasks' states from the REST API. */
  status(name: string): Promise<{ connector: { state: string }; tasks: Array<{ state: string; trace?: string }> }>;
  stop(): Promise<void>;
}

/** Starts a standalone worker with one connector; it consumes read_committed, as our topics are transactional. */
export async function startConnect(home: string, converter: ConnectConverter, connector: Record<string, string>, pluginDirs = ['plugins']): Promise<ConnectWorker> {
  // Beside the stack's own data (removed with it), not in /tmp: the worker's log stays there for a failed run.
  const dir = mkdtempSync(join(stackEnv().CDC_STACK_DIR, 'connect-'));
  const port = await freePort();
  const worker: Record<string, string> = {
    'bootstrap.servers': stackEnv().KAFKA_BROKERS,
    'offset.storage.file.filename': join(dir, 'offsets'),
    'offset.flush.interval.ms': '1000',
    'plugin.path': pluginDirs.map((d) => join(home, d)).join(','),
    listeners: `http://127.0.0.1:${port}`,
    'consumer.isolation.level': 'read_committed',
    'consumer.auto.offset.reset': 'earliest',
  };
  for (const [k, v] of Object.entries(converterSettings(converter))) {
    worker[`key.${k}`] = v;
    worker[`value.${k}`] = v;
  }
  const properties = (values: Record<string, string>) =>
    `${Object.entries(values)
      .map(([k, v]) => `${k}=${v.replace(/\\/g, '\\\\')}`)
      .join('\n')}\n`;
  writeFileSync(join(dir, 'worker.properties'), properties(worker));
  writeFileSync(join(dir, 'connector.properties'), properties(connector));
  const log = join(dir, 'connect.log');
  const out = createWriteStream(log);
  // A small heap: the machine has two cores and little memory to spare for one suite.
  const child = spawn(
    'java',
    [
      '-Xms128m',
      '-Xmx512m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=info',
      '-cp',
      `${join(home, 'worker')}/*`,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      join(dir, 'worker.properties'),
      join(dir, 'connector.properties'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const restUrl = `http://127.0.0.1:${port}`;
  const status = async (name: string) => {
    const response = await fetch(`${restUrl}/connectors/${name}/status`);
    if (!response.ok) throw new Error(`connector status: HTTP ${response.status}`);
    return (await response.json()) as Awaited<ReturnType<ConnectWorker['status']>>;
  };
  await waitFor(
    'the Connect worker to run its connector',
    async () => {
      if (child.exitCode !== null) throw new GiveUp(`Connect exited with ${child.exitCode}; log: ${log}`);
      try {
        const s = await status(connector.name!);
        return s.connector.state === 'RUNNING' && s.tasks.length > 0 ? s : undefined;
      } catch {
        return undefined;
      }
    },
    180_000,
    500,
  );
  return {
    child,
    log,
    restUrl,
    status,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await within(exited, 20_000, undefined);
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
