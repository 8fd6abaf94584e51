import { appendFileSync, mkdirSync } from 'node:fs';
import { stackEnv } from './stack.ts';

/**
 * Everything the services print and every HTTP answer the tests fetch from them is appended to one
 * directory per test run, so the last suite (secret-leak) can search all of it for secrets. Each
 * test file runs in a child process of the one `node --test` process of the run, so the parent's
 * pid names the run; CDC_TEST_CAPTURE_DIR overrides it.
 */
export function captureDir(): string {
  const dir = process.env.CDC_TEST_CAPTURE_DIR ?? `${stackEnv().CDC_STACK_DIR}/test-capture/run-${process.ppid}`;
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Appends text (a line, or several) to one capture file of this run. */
export function capture(file: string, text: string): void {
  appendFileSync(`${captureDir()}/${file}`, text.endsWith('\n') ? text : `${text}\n`);
}

/**
 * Records a secret a test uses (beyond the stack's own, which the leak suite knows), so it is
 * searched for too. Wrong passwords count: a product that prints a rejected password leaks it.
 */
export function recordSecret(value: string): string {
  capture('secrets.list', value);
  return value;
}
