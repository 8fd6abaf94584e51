import { FAULT_KINDS, type FaultKind } from './faults.ts';
import { formatReport, runFaults } from './run.ts';
import { seedFrom } from './random.ts';

/**
 * `make faults`: FAULTS_SEED (replay; printed first), FAULTS_SECONDS (how long faults are injected;
 * unset: exactly FAULTS_COUNT faults, 50 by default, whatever the machine's speed), FAULTS_LARGE_TXN_ROWS (default 100,000),
 * FAULTS_CONVERGE_SECONDS (bound of every convergence wait, default 600), FAULTS_SOURCE_ENV
 * (extra source settings, `NAME=value,…`), FAULTS_COUNT (exactly this many faults instead),
 * FAULTS_KINDS (only these kinds, comma-separated). Exits 1 when the end check finds any difference.
 */
const env = process.env;
const seed = seedFrom(env.FAULTS_SEED);
const seconds = env.FAULTS_SECONDS ? Number(env.FAULTS_SECONDS) : undefined;
const count = env.FAULTS_COUNT ? Number(env.FAULTS_COUNT) : seconds === undefined ? 50 : undefined;
const log = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
log(`seed ${seed} (replay: make faults FAULTS_SEED=${seed} ${seconds === undefined ? `FAULTS_COUNT=${count}` : `FAULTS_SECONDS=${seconds}`})`);
const sourceEnv = Object.fromEntries(
  (env.FAULTS_SOURCE_ENV ?? '')
    .split(',')
    .filter((p) => p.includes('='))
    .map((p) => [p.slice(0, p.indexOf('=')).trim(), p.slice(p.indexOf('=') + 1).trim()]),
);
const kinds = env.FAULTS_KINDS ? env.FAULTS_KINDS.split(',').map((k) => k.trim()) : undefined;
const unknown = kinds?.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k)) ?? [];
if (unknown.length > 0) throw new Error(`FAULTS_KINDS: unknown kinds ${unknown.join(', ')} (known: ${FAULT_KINDS.join(', ')})`);
const report = await runFaults({
  seed,
  ...(count === undefined ? { seconds } : { faults: count }),
  ...(kinds ? { kinds: kinds as FaultKind[] } : {}),
  largeTransactionRows: Number(env.FAULTS_LARGE_TXN_ROWS ?? 100_000),
  convergeSeconds: Number(env.FAULTS_CONVERGE_SECONDS ?? 600),
  sourceEnv,
  log,
});
for (const line of formatReport(report)) log(line);
log(`seed ${seed}: ${report.findings.total === 0 ? 'PASS' : 'FAIL'}`);
process.exit(report.findings.total === 0 ? 0 : 1);
