import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAULT_KINDS } from '../faults/faults.ts';
import { seedFrom } from '../faults/random.ts';
import { formatReport, runFaults } from '../faults/run.ts';

/**
 * The short seeded fault run of `make test`: one fault of each kind (15) under the random
 * workload, with a smaller large transaction, then the full end check (docs/faults.md). The seed
 * is printed first; FAULTS_SEED replays it. `make faults` runs the long version.
 */
describe('fault injection (short seeded run)', () => {
  // A few minutes on a quiet machine; far more when the machine is shared: bounded generously, never timed.
  it('one fault of each kind: MariaDB equals Elasticsearch, versions, Kafka exactly once, dead letters, exits', { timeout: 1_200_000 }, async () => {
    const seed = seedFrom(process.env.FAULTS_SEED);
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
