import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type mysql from 'mysql2/promise';
import { secretNames } from '../../src/config/env.ts';
import { sinkSpec } from '../../src/config/sink.ts';
import { sourceSpec } from '../../src/config/source.ts';
import { capture } from '../helpers/capture.ts';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { dumpIndex } from '../helpers/elasticsearch.ts';
import { freshDatabase, rootConnection, rows } from '../helpers/mysql.ts';
import { waitUntilEqual } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { repoRoot, stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The product image for real: scripts/image builds docker/Dockerfile with Podman, and the README's own
 * `docker run` commands (read from between its image-suite markers; `docker` is this machine's Podman)
 * start the source and the sink against the local stack.
 */
const exec = promisify(execFile);
const settings = Object.fromEntries(
  execFileSync('bash', [`${repoRoot}scripts/image`, 'env'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.split(/=(.*)/s, 2).map((part) => part.replace(/^"|"$/g, '')) as [string, string]),
);
const podmanEnv = { PATH: process.env.PATH ?? '', CONTAINERS_CONF: settings.CONTAINERS_CONF! };
const image = settings.CDC_IMAGE!;
const containers = { source: 'cdc-source', sink: 'cdc-sink' } as const;
/** A one-shot container as hardened as the services' (Podman's --read-only would leave /tmp writable). */
const ONE_SHOT = ['--rm', '--network', 'none', '--read-only', '--read-only-tmpfs=false', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];
/** `docker stop`'s default grace period: the documented bound for a drain on SIGTERM. */
const STOP_BOUND_MS = 10_000;

async function podman(...args: string[]): Promise<string> {
  const { stdout } = await exec('podman', [...settings.PODMAN_OPTIONS!.split(' '), ...args], { env: podmanEnv, maxBuffer: 64 << 20 });
  return stdout.trim();
}

async function podmanExitCode(...args: string[]): Promise<number> {
  return podman(...args).then(
    () => 0,
    (error: { code?: number }) => error.code ?? -1,
  );
}

/** The README's commands, verbatim. */
function readmeCommands(): string {
  const readme = readFileSync(`${repoRoot}README.md`, 'utf8');
  const block = /<!-- image-suite:begin[^>]*-->\n```sh\n([\s\S]*?)```\n<!-- image-suite:end -->/.exec(readme);
  assert.ok(block, 'README.md has the image-suite block');
  return block[1]!;
}

interface Inspected {
  Config: { User: string; Env: string[]; Healthcheck?: { Test: string[] } };
  HostConfig: { ReadonlyRootfs: boolean };
  State: { Running: boolean; ExitCode: number };
}

async function inspect(name: string): Promise<Inspected> {
  return (JSON.parse(await podman('inspect', '--format', 'json', name)) as Inspected[])[0]!;
}

/** What the image holds, seen from inside it by its own Node (the image has no other tool worth trusting). */
const CONTENTS_SCRIPT = `
const fs = require('node:fs'), path = require('node:path');
const out = { app: fs.readdirSync('/app').sort(), packages: [], stray: [], npmCaches: [], appBytes: 0 };
const walk = (dir, visit) => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) { const p = path.join(dir, e.name); if (visit(p, e) !== false && e.isDirectory() && !e.isSymbolicLink()) walk(p, visit); } };
walk('/app', (p, e) => {
  if (e.isFile()) { out.appBytes += fs.statSync(p).size; if (/\\.(map|ts|mts|cts)$/.test(p)) out.stray.push(p); }
  if (e.isFile() && e.name === 'package.json' && /\\/node_modules\\/(@[^/]+\\/)?[^/@]+\\/package\\.json$/.test(p)) out.packages.push(path.relative('/app', path.dirname(p)));
});
walk('/', (p, e) => {
  if (['/proc', '/sys', '/dev'].includes(p)) return false;
  if (e.isDirectory() && (e.name === '_cacache' || e.name === '.npm')) out.npmCaches.push(p);
});
process.stdout.write(JSON.stringify(out));
`;

describe('the image: build, run hardened, carry data', () => {
  const stack = stackEnv();
  const database = uniqueName('cdc_image');
  const checks = demoChecks((table) => `${database}_${table}`.toLowerCase());
  const secrets = mkdtempSync(join(tmpdir(), 'cdc-image-secrets-'));
  const stackSecrets = Object.entries(stack)
    .filter(([name, value]) => /PASSWORD/.test(name) && value)
    .map(([, value]) => value);
  let conn: mysql.Connection;
  let buildSeconds = 0;

  before(
    async () => {
      const started = Date.now();
      await exec('bash', [`${repoRoot}scripts/image`], { env: { ...process.env }, maxBuffer: 64 << 20, timeout: 1_500_000 });
      buildSeconds = (Date.now() - started) / 1000;
      await removeContainers();
      // Secrets as the orchestrator would mount them: files only the container's user can read.
      chmodSync(secrets, 0o755);
      writeFileSync(join(secrets, 'mysql_password'), `${stack.MYSQL_PASSWORD}\n`);
      writeFileSync(join(secrets, 'elastic_password'), `${stack.ELASTICSEARCH_PASSWORD}\n`);
      copyFileSync(stack.ELASTICSEARCH_SSL_CA_FILE, join(secrets, 'elasticsearch-ca.pem'));
      for (const file of ['mysql_password', 'elastic_password', 'elasticsearch-ca.pem']) {
        chownSync(join(secrets, file), 10001, 10001);
        chmodSync(join(secrets, file), 0o400);
      }
      await freshDatabase(database);
      conn = await rootConnection(database);
      await conn.query(DDL);
      // Rows before the start go through the initial snapshot, the later ones through the binlog.
      await runWorkload(conn, 1, 20);
      const environment = {
        ...podmanEnv,
        PODMAN_OPTIONS: settings.PODMAN_OPTIONS!,
        CDC_SECRETS: secrets,
        SOURCE_ID: uniqueName('image-source'),
        MYSQL_HOST: stack.MYSQL_HOST,
        MYSQL_PORT: stack.MYSQL_PORT,
        MYSQL_USER: stack.MYSQL_USER,
        DATABASE_INCLUDE: database,
        KAFKA_BROKERS: stack.KAFKA_BROKERS,
        SCHEMA_REGISTRY_URL: stack.SCHEMA_REGISTRY_URL,
        TOPIC_PREFIX: uniqueName('img').toLowerCase(),
        SINK_GROUP_ID: uniqueName('image-sink'),
        ELASTICSEARCH_URL: stack.ELASTICSEARCH_URL,
        ELASTICSEARCH_USERNAME: stack.ELASTICSEARCH_USERNAME,
        ELASTICSEARCH_SSL_CA_FILE: '/run/secrets/elasticsearch-ca.pem',
      };
      // Podman's --read-only leaves /tmp, /var/tmp and /run writable unless told otherwise; Docker's does not.
      const docker = 'docker() { if [[ $1 == run ]]; then shift; set -- run --read-only-tmpfs=false "$@"; fi; podman $PODMAN_OPTIONS "$@"; }';
      await exec('bash', ['-euo', 'pipefail', '-c', `${docker}\n${readmeCommands()}`], { env: environment });
    },
    { timeout: 1_800_000 },
  );

  after(async () => {
    for (const [service, name] of Object.entries(containers)) {
      const logs = await podman('logs', name).catch((error: Error) => error.message);
      capture(`image-${service}.log`, logs);
    }
    await removeContainers();
    await conn?.end();
    rmSync(secrets, { recursive: true, force: true });
  });

  async function removeContainers(): Promise<void> {
    await podman('rm', '--force', '--ignore', containers.source, containers.sink);
  }

  it('runs both containers as uid 10001, read-only, with no capability, no_new_privs and no secret in any variable', async (t) => {
    t.diagnostic(`image build: ${buildSeconds.toFixed(0)} s`);
    for (const [service, name] of Object.entries(containers)) {
      const spec = service === 'source' ? sourceSpec : sinkSpec;
      const config = await inspect(name);
      if (!config.State.Running) assert.fail(`${name} is not running (exit ${config.State.ExitCode}); its last lines:\n${(await podman('logs', '--tail', '5', name).catch(() => '')).slice(-2000)}`);
      assert.equal(config.Config.User, '10001:10001', `${name}: the image's user`);
      assert.equal(config.HostConfig.ReadonlyRootfs, true, `${name}: read-only root`);
      const status = await podman('exec', name, 'cat', '/proc/1/status');
      const field = (key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim().split(/\s+/);
      assert.deepEqual(field('Uid'), ['10001', '10001', '10001', '10001'], `${name}: the process runs as uid 10001`);
      assert.deepEqual(field('Gid'), ['10001', '10001', '10001', '10001'], `${name}: and gid 10001`);
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.deepEqual(field(set), ['0000000000000000'], `${name}: ${set} is empty`);
      assert.deepEqual(field('NoNewPrivs'), ['1'], `${name}: no_new_privs`);
      for (const path of ['/app/probe', '/tmp/probe', '/probe']) {
        const write = await podmanExitCode('exec', name, 'node', '-e', `require('node:fs').writeFileSync(${JSON.stringify(path)}, 'x')`);
        assert.notEqual(write, 0, `${name}: ${path} cannot be written`);
      }
      for (const entry of config.Config.Env) {
        const [variable, value = ''] = entry.split(/=(.*)/s, 2) as [string, string?];
        assert.ok(!secretNames(spec).includes(variable), `${name}: the secret ${variable} is a plain variable (use ${variable}_FILE)`);
        for (const secret of stackSecrets) assert.ok(!value.includes(secret), `${name}: ${variable} holds a secret`);
      }
      assert.ok(
        config.Config.Env.some((e) => /^(MYSQL|ELASTICSEARCH)_PASSWORD_FILE=\/run\/secrets\//.test(e)),
        `${name}: its password comes from a file under /run/secrets`,
      );
    }
  });

  it('carries the demo rows, then an update and a delete, into Elasticsearch', async () => {
    await waitUntilEqual(conn, checks, 180_000);
    await conn.query("UPDATE customers SET name = 'renamed in the image suite' WHERE id = 1");
    await conn.query('DELETE FROM customers WHERE id = 2');
    await waitUntilEqual(conn, checks);
    const customers = await dumpIndex(checks[0]!.index);
    assert.equal(customers.get('1')?.source.name, 'renamed in the image suite');
    assert.equal(customers.has('2'), false, 'the deleted row has no document');
    assert.equal(customers.size, Number((await rows(conn, 'SELECT COUNT(*) AS n FROM customers'))[0]!.n));
  });

  it("reports healthy through the image's HEALTHCHECK", async () => {
    for (const name of Object.values(containers)) {
      const config = await inspect(name);
      assert.match(JSON.stringify(config.Config.Healthcheck?.Test), /healthz/, `${name} has the image's HEALTHCHECK`);
      await waitFor(`${name} to report healthy`, async () => (await podmanExitCode('healthcheck', 'run', name)) === 0, 60_000, 1000);
    }
  });

  it(`stops on SIGTERM (podman stop) with exit code 0 within ${STOP_BOUND_MS / 1000} s`, async (t) => {
    for (const name of Object.values(containers)) {
      const started = Date.now();
      await podman('stop', '--time', String(STOP_BOUND_MS / 1000), name);
      const took = Date.now() - started;
      t.diagnostic(`${name} stopped in ${took} ms`);
      const state = (await inspect(name)).State;
      assert.equal(state.Running, false);
      assert.equal(state.ExitCode, 0, `${name} exits 0 on SIGTERM (137 would be the SIGKILL after the grace period)`);
      assert.ok(took < STOP_BOUND_MS, `${name} stopped in ${took} ms`);
    }
  });

  it('prints its help by default and refuses a missing configuration with exit 2', async () => {
    const hardened = ['run', ...ONE_SHOT, image];
    assert.match(await podman(...hardened), /source[\s\S]*sink/);
    const failed = await exec('podman', [...settings.PODMAN_OPTIONS!.split(' '), ...hardened, 'source'], { env: podmanEnv }).then(
      () => assert.fail('the source started without configuration'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(failed.code, 2);
    assert.match(failed.stderr, /CONFIG_INVALID[\s\S]*KAFKA_BROKERS: is required/);
  });

  it('holds no devDependency, npm cache, test/, bench/, TypeScript source or source map', async (t) => {
    const contents = JSON.parse(
      await podman(
        'run',
        ...ONE_SHOT,
        // root, to see every directory (caches under /root included); owner access needs no capability
        '--user',
        '0:0',
        '--entrypoint',
        'node',
        image,
        '-e',
        CONTENTS_SCRIPT,
      ),
    ) as { app: string[]; packages: string[]; stray: string[]; npmCaches: string[]; appBytes: number };
    assert.deepEqual(contents.app, ['dist', 'node_modules', 'package.json', 'schemas']);
    const lock = JSON.parse(readFileSync(`${repoRoot}package-lock.json`, 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, entry]) => path && entry.dev)
      .map(([path]) => path);
    assert.ok(devOnly.includes('node_modules/typescript'), 'the lock file marks development packages');
    const shipped = new Set(contents.packages);
    assert.deepEqual(
      devOnly.filter((path) => shipped.has(path)),
      [],
      'no development package is in the image',
    );
    assert.ok(shipped.has('node_modules/kafkajs'), 'runtime packages are');
    assert.deepEqual(contents.stray, [], 'no source map or TypeScript file under /app');
    assert.deepEqual(contents.npmCaches, [], 'no npm cache anywhere');
    const size = Number(await podman('image', 'inspect', '--format', '{{.Size}}', image));
    t.diagnostic(`image ${image}: ${(size / 1e6).toFixed(0)} MB, of which /app ${(contents.appBytes / 1e6).toFixed(1)} MB`);
    assert.ok(contents.appBytes < 40e6, `/app holds ${contents.appBytes} bytes`);
  });
});
