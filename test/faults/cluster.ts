import { setTimeout as sleep } from 'node:timers/promises';
import { startService, waitReady, type ServiceProcess } from '../helpers/services.ts';

/** How a service process is expected to end (set before a fault is injected). */
export type ExpectedExit = 'SIGKILL' | 'SIGTERM' | 'fenced';

export interface ExitRecord {
  service: string;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  expected: ExpectedExit | undefined;
  /** The exit matched what the fault (or the end of the run) expected. */
  ok: boolean;
  lastLines: string[];
}

const fenced = (p: ServiceProcess) => p.lines.some((l) => (l.err as { code?: string } | undefined)?.code === 'SOURCE_FENCED');

function matches(expected: ExpectedExit | undefined, p: ServiceProcess, code: number | null): boolean {
  switch (expected) {
    case 'SIGKILL':
      return p.child.signalCode === 'SIGKILL';
    case 'SIGTERM':
      return code === 0;
    case 'fenced':
      return code !== null && code !== 0 && fenced(p);
    default:
      return false;
  }
}

/**
 * One named service (the source, or one of the two sinks) as an orchestrator runs it: every exit is
 * recorded and compared with the exit the harness expected; a process that ends unexpectedly is
 * restarted, as Kubernetes would, so the run goes on and the end check reports it.
 */
export class Slot {
  readonly name: string;
  current: ServiceProcess | undefined;
  readonly #env: () => Record<string, string>;
  readonly #command: 'source' | 'sink';
  readonly #exits: ExitRecord[];
  readonly #expected = new Map<ServiceProcess, ExpectedExit>();
  #closing = false;
  /** Starts that did not get ready (each also shows as an exit). */
  readonly startFailures: string[] = [];

  constructor(name: string, command: 'source' | 'sink', env: () => Record<string, string>, exits: ExitRecord[]) {
    this.name = name;
    this.#command = command;
    this.#env = env;
    this.#exits = exits;
  }

  /** Starts a process of this slot and watches it; the new process becomes `current` once ready. */
  async start(): Promise<ServiceProcess> {
    const p = startService(this.#command, this.#env());
    this.#watch(p);
    try {
      await waitReady(p, 180_000);
    } catch (error) {
      this.startFailures.push(`${this.name}: ${(error as Error).message}`);
      this.expect(p, 'SIGKILL');
      await p.stop('SIGKILL');
      throw error;
    }
    this.current = p;
    return p;
  }

  /** Starts until a process is ready (or the slot closes). */
  async ensureStarted(): Promise<void> {
    while (!this.#closing && !this.current) await this.start().catch(() => sleep(2000));
  }

  /** Starts one more process with the same configuration (a second source: fencing), not yet `current`. */
  spawnTwin(): ServiceProcess {
    const p = startService(this.#command, this.#env());
    this.#watch(p);
    return p;
  }

  expect(p: ServiceProcess, exit: ExpectedExit): void {
    this.#expected.set(p, exit);
  }

  /** The process is expected to keep running again. */
  forget(p: ServiceProcess): void {
    this.#expected.delete(p);
  }

  /** Stops the current process with a signal it is expected to survive correctly. */
  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const p = this.current;
    if (!p) return;
    this.expect(p, signal);
    this.current = undefined;
    await p.stop(signal);
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.stop('SIGTERM');
  }

  #watch(p: ServiceProcess): void {
    void p.exited.then(async (code) => {
      const expected = this.#expected.get(p);
      this.#exits.push({
        service: this.name,
        pid: p.child.pid,
        code,
        signal: p.child.signalCode,
        expected,
        ok: matches(expected, p, code),
        lastLines: p.lines.slice(-8).map((l) => l.raw),
      });
      if (expected === undefined && !this.#closing && this.current === p) {
        this.current = undefined;
        await sleep(1000);
        await this.ensureStarted();
      }
    });
  }
}
