import assert from 'node:assert/strict';
import { execSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../helpers/stack.ts';

/**
 * Docker cannot run on the machines this project is built on, so this performs the image's
 * build stage itself: the Dockerfile's COPY and RUN steps, read from the Dockerfile (so the two
 * cannot drift), in a clean temporary directory, then runs the result the way the image does.
 */
function buildStage(dockerfile: string): Array<{ kind: 'COPY' | 'RUN'; args: string }> {
  const joined = dockerfile.replace(/\\\n\s*/g, ' ');
  const stage = joined.split(/^FROM /m)[1] ?? '';
  return stage
    .split('\n')
    .map((line) => /^(COPY|RUN) (.*)$/.exec(line.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ kind: m[1] as 'COPY' | 'RUN', args: m[2]! }));
}

describe('docker image build steps', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdc-image-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // The image's Node is 24; here that is the repository's Node 24 first on PATH.
  const env = { ...process.env, PATH: `${repoRoot}node_modules/.bin:${process.env.PATH}` };

  it('installs, builds and prunes like the Dockerfile, and the result runs', { timeout: 600_000 }, () => {
    const steps = buildStage(readFileSync(`${repoRoot}docker/Dockerfile`, 'utf8'));
    assert.ok(
      steps.some((s) => s.kind === 'RUN' && s.args.includes('npm ci')),
      'the Dockerfile installs with npm ci',
    );
    for (const step of steps) {
      if (step.kind === 'COPY') {
        const parts = step.args.split(/\s+/);
        for (const source of parts.slice(0, -1)) {
          assert.ok(existsSync(`${repoRoot}${source}`), `COPY source ${source} exists`);
          cpSync(`${repoRoot}${source}`, join(dir, source), { recursive: true });
        }
      } else {
        execSync(step.args, { cwd: dir, env, stdio: 'pipe' });
      }
    }
    assert.ok(!existsSync(join(dir, 'node_modules/typescript')), 'dev dependencies are pruned');
    const run = (args: string[], extraEnv: Record<string, string> = {}) =>
      spawnSync(`${repoRoot}node_modules/.bin/node`, [join(dir, 'dist/cli.js'), ...args], { cwd: '/', env: { PATH: process.env.PATH ?? '', ...extraEnv }, encoding: 'utf8' });
    const help = run(['--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /source/);
    assert.match(help.stdout, /sink/);
    const reference = run(['config-reference']);
    assert.match(reference.stdout, /KAFKA_BROKERS/);
    assert.match(reference.stdout, /ELASTICSEARCH_URL/);
    const noConfig = run(['source']);
    assert.equal(noConfig.status, 2);
    assert.match(noConfig.stderr, /CONFIG_INVALID[\s\S]*KAFKA_BROKERS: is required/);
  });
});
