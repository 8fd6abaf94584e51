import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Spec } from '../../src/config/env.ts';
import { sinkSpec } from '../../src/config/sink.ts';
import { sourceSpec } from '../../src/config/source.ts';

const root = new URL('../../', import.meta.url);
const compose = readFileSync(new URL('docker/compose.yml', root), 'utf8');

/** The lines of one service of compose.yml (two-space indented keys under `services:`). */
function serviceBlock(name: string): string[] {
  const lines = compose.slice(compose.indexOf('\nservices:\n')).split('\n');
  const start = lines.indexOf(`  ${name}:`);
  assert.ok(start > 0, `compose.yml has a ${name} service`);
  const end = lines.findIndex((line, i) => i > start && /^ {2}\S/.test(line));
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

/** Every variable of a service's `environment:` map, the commented-out examples included unless `active`. */
function environmentNames(block: string[], active = false): string[] {
  const start = block.indexOf('    environment:');
  assert.ok(start >= 0, 'the service has an environment map');
  const names: string[] = [];
  for (const line of block.slice(start + 1)) {
    if (!/^ {6}/.test(line)) break;
    const match = (active ? /^ {6}([A-Z][A-Z0-9_]*):/ : /^ {6}(?:#\s*)?([A-Z][A-Z0-9_]*):/).exec(line);
    if (match) names.push(match[1]!);
  }
  return names;
}

/** A name the service reads: a variable of its spec, `NAME_FILE` of a secret, or `NAME_*` of a prefixed one. */
function known(spec: Spec, name: string): boolean {
  if (spec[name]) return true;
  const secret = /^(.*)_FILE$/.exec(name);
  if (secret && spec[secret[1]!]?.secret) return true;
  return Object.entries(spec).some(([owner, v]) => v.prefixed && name.startsWith(`${owner}_`));
}

describe('docker/compose.yml', () => {
  const specs: Array<[string, Spec]> = [
    ['source', sourceSpec],
    ['sink', sinkSpec],
  ];
  for (const [service, spec] of specs) {
    it(`${service}: every variable, commented examples included, is one the ${service} reads`, () => {
      const names = environmentNames(serviceBlock(service));
      assert.ok(names.length > 5, `found the ${service}'s variables`);
      assert.deepEqual(
        names.filter((name) => !known(spec, name)),
        [],
        `variables of the ${service} that no schema in src/config defines`,
      );
      const secrets = environmentNames(serviceBlock(service), true).filter((name) => spec[name]?.secret);
      assert.deepEqual(secrets, [], 'secrets are given as NAME_FILE, never as a plain variable');
    });

    it(`${service}: a read-only root, no capability, no-new-privileges`, () => {
      const block = serviceBlock(service);
      assert.ok(block.includes('    read_only: true'));
      assert.ok(block.includes('    cap_drop: [ALL]'));
      assert.ok(block.includes('    security_opt: [no-new-privileges:true]'));
    });
  }

  it('pins every image by digest, and so does the Dockerfile its base', () => {
    const images = [...compose.matchAll(/^ {4}image: (\S+)$/gm)].map((m) => m[1]!);
    assert.ok(images.length >= 4);
    for (const image of images) assert.match(image, /^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$/, `${image} is pinned as tag@digest`);
    const dockerfile = readFileSync(new URL('docker/Dockerfile', root), 'utf8');
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:24-slim@sha256:[0-9a-f]{64}$/m);
    assert.deepEqual(
      [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]),
      ['$' + '{NODE_IMAGE}', '$' + '{NODE_IMAGE}'],
      'every stage starts from the pinned base',
    );
  });
});
