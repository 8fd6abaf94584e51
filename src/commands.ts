// First, before any module that loads kafkajs (kafkajs-patches.ts).
import './core/kafkajs-patches.ts';
import { Command } from 'commander';
import { CdcError, ERROR_CODES, errorMessage } from './core/errors.ts';
import { createKafka, kafkaSettings } from './core/kafka.ts';
import { checkKafkaTls } from './core/kafka-tls-check.ts';
import { createLogger, errorFields, type Logger } from './core/logger.ts';
import { redactUrls } from './core/url-redaction.ts';
import { configReference, loadConfig, redactConfig, type Spec } from './config/env.ts';
import { fileSinkSpec, fileSourceSpec } from './config/file-connector.ts';
import { offsetsSpec } from './config/offsets.ts';
import { insecureSettings } from './config/security.ts';
import { snapshotRequestSpec } from './config/snapshot-request.ts';
import { sinkSpec } from './config/sink.ts';
import { sourceSpec } from './config/source.ts';
import type { AdminToken } from './config/admin.ts';
import { offsetsActions, pauseActions, restartAction, retryAction, snapshotAction, type Pausable } from './http/admin-actions.ts';
import { startAdminServer, type AdminAction, type AdminSettings } from './http/admin-server.ts';
import type { Probe } from './core/probe.ts';
import { startHttpServer } from './http/server.ts';
import type { StatusDetail } from './http/status-view.ts';
import { AuditLog, audited, cliActor, type AuditSettings } from './ops/audit-log.ts';
import { parseResetTarget, resetOffsets, showOffsets } from './ops/offsets.ts';
import { Supervisor } from './ops/supervisor.ts';
import { VERSION } from './version.ts';
import type { Registry as MetricsRegistry } from 'prom-client';

/** Exit codes: 0 done, 1 runtime failure, 2 bad configuration or an unusable source server. */
const EXIT_BAD_INPUT = 2;
const BAD_INPUT_CODES = new Set(['CONFIG_INVALID', 'SOURCE_PRECONDITION_FAILED', 'ARGUMENT_INVALID']);

function fail(error: unknown, log?: Logger, exitCode?: number): never {
  const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
  if (log) log.fatal(errorFields(cdc), cdc.message);
  process.stderr.write(`${redactUrls(cdc.describe())}\n`);
  process.exit(exitCode ?? (BAD_INPUT_CODES.has(cdc.code) ? EXIT_BAD_INPUT : 1));
}

function configOrExit<T extends Spec>(spec: T) {
  try {
    return loadConfig(spec, process.env);
  } catch (error) {
    fail(error);
  }
}

/** Certificate verification turned off is allowed, never silent. */
function warnInsecure(config: object, log: Logger): void {
  for (const warning of insecureSettings(config as Record<string, unknown>)) log.warn({ insecure: true }, warning);
}

type ServiceConfig = Omit<AdminSettings, 'ADMIN_TOKENS'> &
  AuditSettings & { ADMIN_TOKENS?: AdminToken[] | undefined; HTTP_HOST: string; HTTP_PORT: number; STATUS_DETAIL: StatusDetail } & Parameters<typeof kafkaSettings>[0];
/** Services that can pause (source, sink) get the pause and resume actions. */
type Service = Probe & Partial<Pausable> & { run(): Promise<void>; stop(): Promise<void>; metrics: { registry: MetricsRegistry } };

/**
 * Runs a long-lived service with its HTTP server and, when ADMIN_TOKENS is set, its admin API;
 * SIGTERM/SIGINT drain it, a second one exits at once.
 */
async function serve(name: string, service: Service, config: ServiceConfig, log: Logger, extraActions: AdminAction[] = []) {
  warnInsecure(config, log);
  await checkKafkaTls(kafkaSettings(config)).catch((error: unknown) => fail(error, log));
  const supervisor = new Supervisor(service, log, config.ADMIN_TOKENS !== undefined);
  const probe: Probe = { healthy: () => supervisor.healthy(), ready: () => service.ready(), status: () => service.status() };
  const http = await startHttpServer(config.HTTP_HOST, config.HTTP_PORT, probe, service.metrics.registry, config.STATUS_DETAIL);
  log.info({ port: http.port }, `${name} HTTP server listening`);
  let audit: AuditLog | undefined;
  let admin: { close(): void } | undefined;
  if (config.ADMIN_TOKENS) {
    audit = new AuditLog(name, config, log, createKafka(kafkaSettings(config), log));
    const pausable = service.pause && service.resume ? pauseActions(service as Pausable, name === 'source' ? 'reading the binlog' : 'consuming') : [];
    const actions = [...pausable, restartAction(supervisor), ...extraActions];
    admin = await startAdminServer({ ...config, ADMIN_TOKENS: config.ADMIN_TOKENS }, actions, audit, service.metrics.registry, log).catch((error: unknown) => fail(error, log));
  }
  const close = async () => {
    http.close();
    admin?.close();
    await audit?.close();
  };
  let signals = 0;
  const onSignal = (signal: string) => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(130);
    }
    log.info({ signal }, `${name} stopping`);
    void supervisor.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await supervisor.run();
    log.info(`${name} stopped`);
    await close();
    process.exit(0);
  } catch (error) {
    await close();
    fail(error, log);
  }
}

const program = new Command('cdc').description('MySQL/MariaDB → Kafka → Elasticsearch change data capture').version(VERSION);

program
  .command('source')
  .description('stream binlog changes into Kafka (configured by environment variables)')
  .action(async () => {
    const config = configOrExit(sourceSpec);
    const log = createLogger(config.LOG_LEVEL, 'source');
    log.info({ config: redactConfig(sourceSpec, config), version: VERSION }, 'source starting');
    const [{ SourceService }, { requestSnapshot }] = await Promise.all([import('./source/source-service.ts'), import('./ops/request-snapshot.ts')]);
    const source = new SourceService(config, log);
    const snapshot = config.SIGNAL_TABLE ? [snapshotAction((tables) => requestSnapshot({ ...config, SIGNAL_TABLE: config.SIGNAL_TABLE! }, tables))] : [];
    await serve('source', source, config, log, [retryAction(source), ...snapshot]);
  });

program
  .command('sink')
  .description('index Kafka change events into Elasticsearch (configured by environment variables)')
  .action(async () => {
    const config = configOrExit(sinkSpec);
    const log = createLogger(config.LOG_LEVEL, 'sink');
    log.info({ config: redactConfig(sinkSpec, config), version: VERSION }, 'sink starting');
    const { SinkService } = await import('./sink/sink-service.ts');
    const sink = new SinkService(config, log);
    await serve('sink', sink, config, log, offsetsActions(sink));
  });

program
  .command('file-sink')
  .description('archive topics as JSON lines in rotating files (FILE_SINK_TOPICS, FILE_SINK_DIR)')
  .action(async () => {
    const config = configOrExit(fileSinkSpec);
    const log = createLogger(config.LOG_LEVEL, 'file-sink');
    const { FileSinkService } = await import('./file/file-sink.ts');
    await serve('file-sink', new FileSinkService(config, log), config, log);
  });

program
  .command('file-source')
  .description('restore a file-sink archive into Kafka, re-encoded through the registry, then exit (FILE_SOURCE_DIR)')
  .action(async () => {
    const config = configOrExit(fileSourceSpec);
    const log = createLogger(config.LOG_LEVEL, 'file-source');
    const { FileSourceService } = await import('./file/file-source.ts');
    await serve('file-source', new FileSourceService(config, log), config, log);
  });

program
  .command('check-source')
  .description("check the source server's settings and that it still has the stored position; exit 2 when not")
  .action(async () => {
    const config = configOrExit(sourceSpec);
    try {
      const log = createLogger('warn', 'check-source');
      warnInsecure(config, log);
      const { runSourceCheck } = await import('./source/check-source.ts');
      const result = await runSourceCheck(config, log);
      process.stdout.write(`${JSON.stringify({ ok: true, ...result }, null, 2)}\n`);
      process.exit(0);
    } catch (error) {
      fail(error, undefined, EXIT_BAD_INPUT);
    }
  });

const offsets = program.command('offsets').description('show or reset where the source and a sink group stand (KAFKA_BROKERS, TOPIC_PREFIX, SINK_GROUP_ID, SINK_TOPICS, SOURCE_ID)');

/** The offsets commands' config, with --group overriding SINK_GROUP_ID. */
function offsetsSetup(group: string | undefined) {
  const config = configOrExit(offsetsSpec);
  const log = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, 'offsets');
  warnInsecure(config, log);
  const kafka = createKafka(kafkaSettings(config), log);
  return { config: { ...config, SINK_GROUP_ID: group ?? config.SINK_GROUP_ID }, kafka, audit: new AuditLog('cli', config, log, kafka) };
}

offsets
  .command('show')
  .description("print the source's stored position and, per partition, the group's committed offset, log range and lag (JSON)")
  .option('--group <id>', 'consumer group (default SINK_GROUP_ID)')
  .action(async (options: { group?: string }) => {
    const { config, kafka } = offsetsSetup(options.group);
    try {
      process.stdout.write(`${JSON.stringify(await showOffsets(kafka, config), null, 2)}\n`);
      process.exit(0);
    } catch (error) {
      fail(error);
    }
  });

offsets
  .command('reset')
  .description("move the group's committed offsets on every sink topic; refused while a sink of the group runs")
  .requiredOption('--to <target>', 'earliest | latest | timestamp=<ms or ISO-8601> | offset=<n>')
  .option('--group <id>', 'consumer group (default SINK_GROUP_ID)')
  .option('--dry-run', 'print what would change and change nothing')
  .action(async (options: { to: string; group?: string; dryRun?: boolean }) => {
    const { config, kafka, audit } = offsetsSetup(options.group);
    try {
      const dryRun = options.dryRun === true;
      const subject = { who: cliActor(), action: 'offsets reset', params: { group: config.SINK_GROUP_ID, to: options.to, dryRun } };
      const plan = await audited(audit, subject, () => resetOffsets(kafka, config, parseResetTarget(options.to), dryRun));
      await audit.close();
      process.stdout.write(`${JSON.stringify({ dryRun: options.dryRun === true, ...plan }, null, 2)}\n`);
      process.exit(0);
    } catch (error) {
      fail(error, undefined, error instanceof CdcError && ['ARGUMENT_INVALID', 'GROUP_ACTIVE'].includes(error.code) ? EXIT_BAD_INPUT : undefined);
    }
  });

program
  .command('replay')
  .description("re-send one table's changes since a time or binlog position to its topic, with the live source's encoding and versions (source configuration; audited)")
  .requiredOption('--table <db.table>', 'the table to replay')
  .requiredOption('--since <time|position>', 'ISO-8601 time, ms since the epoch, or <binlog file>:<position>')
  .option('--dry-run', 'print the position found, the file range, whether the server still has it and the target topic; change nothing')
  .option('--snapshot-if-gone', 'when the server no longer has that binlog, request an incremental snapshot of the table instead (needs SIGNAL_TABLE)')
  .action(async (options: { table: string; since: string; dryRun?: boolean; snapshotIfGone?: boolean }) => {
    const config = configOrExit(sourceSpec);
    const log = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL, 'replay');
    warnInsecure(config, log);
    const kafka = createKafka(kafkaSettings(config), log);
    const audit = new AuditLog('cli', config, log, kafka);
    const dryRun = options.dryRun === true;
    const [{ planReplay, runReplay }, { requestSnapshot }] = await Promise.all([import('./ops/replay.ts'), import('./ops/request-snapshot.ts')]);
    const subject = { who: cliActor(), action: 'replay', params: { table: options.table, since: options.since, dryRun } };
    try {
      const result = await audited(audit, subject, async () => {
        const plan = await planReplay(config, options.table, options.since).catch((error: unknown) => {
          const gone = error instanceof CdcError && error.code === 'SOURCE_POSITION_PURGED';
          if (!gone || !options.snapshotIfGone) throw error;
          if (!config.SIGNAL_TABLE) throw new CdcError('ARGUMENT_INVALID', '--snapshot-if-gone needs SIGNAL_TABLE (incremental snapshots write their watermarks there)', { cause: error });
          return undefined;
        });
        if (plan) return dryRun ? plan : runReplay(config, plan, kafka);
        // The binlog is gone: the table's current rows, by an incremental snapshot, are the best replay left.
        const request = { table: options.table, fallback: 'incremental snapshot', reason: 'the server no longer has the binlog for --since' };
        return dryRun ? request : { ...request, ...(await requestSnapshot({ ...config, SIGNAL_TABLE: config.SIGNAL_TABLE! }, [options.table])) };
      });
      await audit.close();
      process.stdout.write(`${JSON.stringify({ dryRun, ...result }, null, 2)}\n`);
      process.exit(0);
    } catch (error) {
      await audit.close().catch(() => undefined);
      fail(error, undefined, error instanceof CdcError && ['ARGUMENT_INVALID', 'SOURCE_POSITION_PURGED'].includes(error.code) ? EXIT_BAD_INPUT : undefined);
    }
  });

program
  .command('snapshot')
  .description('request an incremental snapshot of tables from the running source, through SIGNAL_TABLE (MYSQL_*, SIGNAL_TABLE)')
  .requiredOption('--tables <list>', 'comma-separated `database.table` names')
  .action(async (options: { tables: string }) => {
    const config = configOrExit(snapshotRequestSpec);
    try {
      const { requestSnapshot } = await import('./ops/request-snapshot.ts');
      const request = await requestSnapshot(
        config,
        options.tables
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      );
      process.stdout.write(`${JSON.stringify(request, null, 2)}\n`);
      process.exit(0);
    } catch (error) {
      fail(error);
    }
  });

program
  .command('config-reference')
  .description('print the reference of every environment variable (Markdown)')
  .action(() => {
    process.stdout.write(
      `# Configuration reference\n\nGenerated by \`cdc config-reference\` from the zod schemas in src/config/.\n\n${configReference('Source (`cdc source`)', sourceSpec)}\n${configReference('Sink (`cdc sink`)', sinkSpec)}\n${configReference('Offsets (`cdc offsets show|reset`)', offsetsSpec)}\n${configReference('Snapshot request (`cdc snapshot --tables`)', snapshotRequestSpec)}\n${configReference('File sink (`cdc file-sink`)', fileSinkSpec)}\n${configReference('File source (`cdc file-source`)', fileSourceSpec)}`,
    );
  });

program
  .command('error-codes')
  .description('print the reference of every error code (Markdown)')
  .action(() => {
    const rows = Object.entries(ERROR_CODES).map(([code, meaning]) => `| \`${code}\` | ${meaning} |`);
    process.stdout.write(
      `# Error codes\n\nGenerated by \`cdc error-codes\` from src/core/errors.ts. Every error a service logs or prints carries one of these codes, whether it is retried (\`retriable\`), and a hint.\n\n| Code | Meaning |\n|---|---|\n${rows.join('\n')}\n`,
    );
  });

await program.parseAsync(process.argv);
