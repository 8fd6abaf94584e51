import { availableParallelism } from 'node:os';
import type { ProducerFigure } from './producers.ts';

/** Reading alone, rows/s and CPU a row (snapshot-read.ts, binlog-read.ts). */
export interface ReadFigure {
  rate: number;
  readerUs: number;
  mariadbUs: number;
}

/**
 * What the baselines say of an exactly-once source's ceiling on this machine, as lines to print.
 * The writer alone is what Kafka transactions cost by themselves; with the reading alone (binlog
 * or snapshot), the CPU a row of the parts no source can skip, summed and spread perfectly over
 * the machine's cores, bounds its rate before a single row is encoded. `reached` is the measured
 * rate set against both.
 */
export function budgetLines(bare: ProducerFigure, eos: ProducerFigure, perTransaction: number, reached: number, read?: ReadFigure & { what: string }): string[] {
  const us = (n: number) => n.toFixed(1);
  const lines = [
    `exactly-once alone (the source's writer committing the same records, ${perTransaction} a transaction, nothing read or encoded): ${eos.rate.toFixed(0)} records/s = ${(eos.rate / bare.rate).toFixed(3)} of the bare producer; client ${us(eos.clientUs)} + Kafka ${us(eos.kafkaUs)} µs a record, the bare producer's ${us(bare.clientUs)} + ${us(bare.kafkaUs)}; the source reached ${(reached / eos.rate).toFixed(3)} of it`,
  ];
  if (read) {
    const cpuUs = read.readerUs + read.mariadbUs + eos.clientUs + eos.kafkaUs;
    const ceiling = (CORES * 1e6) / cpuUs;
    lines.push(
      `reading alone (${read.what}, in the bench): ${read.rate.toFixed(0)} rows/s, reader ${us(read.readerUs)} + MariaDB ${us(read.mariadbUs)} µs a row`,
      `ceiling of reading and exactly-once together, their ${us(cpuUs)} µs of CPU a row spread over ${CORES} cores with no encoding: ${ceiling.toFixed(0)} rows/s = ${(ceiling / bare.rate).toFixed(3)} of the bare producer; the source reached ${(reached / ceiling).toFixed(3)} of it`,
    );
  }
  return lines;
}

/** The cores the stack and the services share: the whole machine. */
const CORES = availableParallelism();
