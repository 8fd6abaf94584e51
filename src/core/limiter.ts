/**
 * A counting semaphore: at most `limit` holders at a time, the others wait in arrival order. A
 * holder gives its place back with release(); a place freed while someone waits passes straight
 * to the first waiter, so no late arrival overtakes it.
 */
export class Limiter {
  readonly #limit: number;
  #holders = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a limiter needs a limit of at least 1, not ${limit}`);
    this.#limit = limit;
  }

  /** Holders right now (for tests and status). */
  get holders(): number {
    return this.#holders;
  }

  async acquire(): Promise<void> {
    if (this.#holders < this.#limit) {
      this.#holders++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#holders--;
  }

  /** Runs `work` once a place is free, and frees it when `work` settles. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await work();
    } finally {
      this.release();
    }
  }
}
