import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { capture } from './capture.ts';
import { repoRoot, stackEnv } from './stack.ts';
import { GiveUp, waitFor } from './wait.ts';

export interface ServiceProcess {
  child: ChildProcess;
  /** Every line the process printed (stdout and stderr), parsed when it is JSON. */
  lines: Array<Record<string, unknown> & { raw: string }>;
  /** The HTTP port the service reported once it listened (HTTP_PORT=0: the system picks one). */
  port(): Promise<number>;
  exited: Promise<number | null>;
  /** SIGTERM (graceful) or SIGKILL, then wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  http(path: string): Promise<{ status: number; body: string }>;
}

const node = `${repoRoot}node_modules/.bin/node`;

/**
 * What every process started here inherits: PATH, and V8's compile cache when the Makefile set
 * one (about 0.1 s less CPU per start once warm; a test run starts hundreds of services).
 */
const baseEnv = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  ...(process.env.NODE_COMPILE_CACHE ? { NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE } : {}),
});

/** Extra Node options for the services started from now on, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (the bench's BENCH_CPU_PROF sets it). */
const nodeArgs = () => (process.env.CDC_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);

/** Settings for every service started from now on: `CDC_SERVICE_ENV_QUEUE_MAX_BYTES=…` gives each QUEUE_MAX_BYTES (for bench experiments; a test's own settings win). */
const serviceEnv = () =>
  Object.fromEntries(
    Object.entries(process.env)
      .filter(([name, value]) => name.startsWith('CDC_SERVICE_ENV_') && value !== undefined)
      .map(([name, value]) => [name.slice('CDC_SERVICE_ENV_'.length), value!]),
  );

/** Starts `cdc source` or `cdc sink` (with the heap limit production uses: MAX_HEAP_MB) as a child process of the test, wired to the local stack. */
export function startService(command: 'source' | 'sink' | 'file-sink' | 'file-source', env: Record<string, string>): ServiceProcess {
  const stack = stackEnv();
  const child = spawn(node, [...nodeArgs(), `${repoRoot}src/cli.ts`, command], {
    cwd: repoRoot,
    env: {
      ...baseEnv(),
      KAFKA_BROKERS: stack.KAFKA_BROKERS,
      SCHEMA_REGISTRY_URL: stack.SCHEMA_REGISTRY_URL,
      ELASTICSEARCH_URL: stack.ELASTICSEARCH_URL,
      ELASTICSEARCH_USERNAME: stack.ELASTICSEARCH_USERNAME,
      ELASTICSEARCH_PASSWORD: stack.ELASTICSEARCH_PASSWORD,
      ELASTICSEARCH_SSL_CA_FILE: stack.ELASTICSEARCH_SSL_CA_FILE,
      MYSQL_HOST: stack.MYSQL_HOST,
      MYSQL_PORT: stack.MYSQL_PORT,
      MYSQL_USER: stack.MYSQL_USER,
      MYSQL_PASSWORD: stack.MYSQL_PASSWORD,
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      ...serviceEnv(),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: ServiceProcess['lines'] = [];
  const captureFile = `${command}-${child.pid}.log`;
  const collect = (chunk: Buffer, carry: { rest: string }) => {
    const text = carry.rest + chunk.toString('utf8');
    const parts = text.split('\n');
    carry.rest = parts.pop() ?? '';
    for (const raw of parts) {
      if (!raw.trim()) continue;
      let parsed: Record<string, unknown> = {};
      try {
        parsed = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // not a pino line (e.g. the one-line error on stderr)
      }
      lines.push({ ...parsed, raw });
      capture(captureFile, raw);
      if (process.env.CDC_TEST_VERBOSE) process.stderr.write(`[${command}] ${raw}\n`);
    }
  };
  const out = { rest: '' };
  const err = { rest: '' };
  child.stdout!.on('data', (c: Buffer) => collect(c, out));
  child.stderr!.on('data', (c: Buffer) => collect(c, err));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = () =>
    waitFor(
      `${command} to report its HTTP port`,
      () => {
        if (child.exitCode !== null)
          throw new GiveUp(
            `${command} exited with ${child.exitCode}: ${lines
              .slice(-5)
              .map((l) => l.raw)
              .join('\n')}`,
          );
        return lines.find((l) => typeof l.port === 'number' && /HTTP server listening/.test(String(l.msg)))?.port as number | undefined;
      },
      60_000,
      100,
    );
  return {
    child,
    lines,
    port,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async http(path: string) {
      const response = await fetch(`http://127.0.0.1:${await port()}${path}`);
      const answer = { status: response.status, body: await response.text() };
      capture('http-answers.log', `${command} GET ${path} ${answer.status}\n${answer.body}`);
      return answer;
    },
  };
}

export async function waitReady(service: ServiceProcess, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    'service readiness',
    async () => {
      if (service.child.exitCode !== null)
        throw new GiveUp(
          `exited with ${service.child.exitCode}: ${service.lines
            .slice(-5)
            .map((l) => l.raw)
            .join('\n')}`,
        );
      return (await service.http('/readyz')).status === 200;
    },
    timeoutMs,
  );
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().slice(0, 8)}`;
}

/** Runs a one-shot `cdc` command (check-source, offsets, …) without blocking the test's event loop. */
export async function runCli(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(node, [`${repoRoot}src/cli.ts`, ...args], { cwd: repoRoot, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  clearTimeout(timer);
  capture(`cli-${child.pid}.log`, `$ cdc ${args.join(' ')} (exit ${status})\n${stdout}\n${stderr}`);
  return { status, stdout, stderr };
}
