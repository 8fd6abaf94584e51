import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAULT_KINDS } from '../faults/faults.ts';
import { seedFrom } from '../faults/random.ts';
import { formatReport, runFaults } from '../faults/run.ts';

/**
 * The short seeded fault run of `make test`: one fault of every kind (15, in the seed's order) under
 * the random workload with a smaller large transaction, then the full end check (docs/faults.md).
 * The seed is a run that passed, so that `make test` replays a known schedule; FAULTS_SEED replays
 * another. `make faults` runs the long version.
 */
describe('fault injection (short seeded run)', () => {
  // 9.6 minutes measured on the shared 2-core machine under load (load average 20-30), less on a quiet one;
  // bounded generously, never timed.
  it('one fault of every kind: MariaDB equals Elasticsearch, versions, Kafka exactly once, dead letters, exits', { timeout: 1_800_000 }, async () => {
    const seed = seedFrom(process.env.FAULTS_SEED ?? '2917083299');
    const log = (line: string) => process.stdout.write(`# faults: ${line}\n`);
    log(`seed ${seed} (replay: FAULTS_SEED=${seed})`);
    const report = await runFaults({ seed, faults: FAULT_KINDS.length, largeTransactionRows: 5_000, convergeSeconds: 300, log });
    for (const line of formatReport(report)) log(line);
    assert.deepEqual(
      FAULT_KINDS.filter((kind) => !report.faults.some((f) => f.kind === kind)),
      [],
      'every kind of fault was injected',
    );
    assert.ok(report.comparison.rows > 0 && report.kafkaChanges > 0, 'something was compared');
    assert.equal(report.findings.total, 0, `seed ${seed}: ${formatReport(report).join('\n')}`);
  });
});
