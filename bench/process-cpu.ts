import { readdir, readFile } from 'node:fs/promises';
import type { ServiceProcess } from '../test/helpers/services.ts';

/** CPU seconds (user + system) of a process and all its threads so far, from /proc. */
export async function processCpuSeconds(pid: number | string): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The stack's processes by what they run (their command line), and what the bench names them. */
const STACK_PROCESSES: Array<[string, RegExp]> = [
  ['Elasticsearch', /org\.elasticsearch/],
  ['Kafka', /kafka\.Kafka/],
  ['registry', /apicurio/],
  ['MariaDB', /mariadbd/],
];

/**
 * CPU seconds so far of every process a run keeps busy: the stack's, the services' and this bench's
 * own (it makes the inserts). Differences of two readings show where the 2 cores went.
 */
export async function cpuByProcess(services: Record<string, ServiceProcess>): Promise<Map<string, number>> {
  const seconds = new Map<string, number>();
  const add = (name: string, value: number) => seconds.set(name, (seconds.get(name) ?? 0) + value);
  const servicePids = new Map(Object.entries(services).map(([name, service]) => [service.child.pid, name]));
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const pid = Number(entry);
      const named = servicePids.get(pid) ?? (pid === process.pid ? 'bench' : undefined);
      const command = named ?? (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const name = named ?? STACK_PROCESSES.find(([, pattern]) => pattern.test(command))?.[0];
      if (!name) continue;
      add(name, await processCpuSeconds(entry));
    } catch {
      // The process ended meanwhile.
    }
  }
  return seconds;
}

/** Where the CPU went between two readings of cpuByProcess, per row, as one line. */
export function cpuShares(before: Map<string, number>, after: Map<string, number>, rows: number, wallSeconds: number): string {
  const used = [...after].map(([name, value]) => [name, value - (before.get(name) ?? 0)] as const).sort((a, b) => b[1] - a[1]);
  const total = used.reduce((sum, [, value]) => sum + value, 0);
  const parts = used.map(([name, value]) => `${name} ${((value * 1e6) / rows).toFixed(1)}`);
  return `${parts.join(', ')} µs per row; ${total.toFixed(1)} CPU s of the ${(2 * wallSeconds).toFixed(1)} the 2 cores had`;
}

/** CPU microseconds a row (or record) of one process between two readings of cpuByProcess. */
export function cpuUsPer(before: Map<string, number>, after: Map<string, number>, name: string, rows: number): number {
  return (((after.get(name) ?? 0) - (before.get(name) ?? 0)) * 1e6) / rows;
}
