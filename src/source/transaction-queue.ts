import type { SourceTransaction } from './binlog-reader.ts';

/**
 * Bounded (in bytes) hand-over between the binlog reader and the Kafka writer. The reader is
 * paused while the queue is above its bound and resumed once it drains below half of it, so memory
 * stays bounded however far Kafka falls behind.
 */
export class TransactionQueue {
  readonly #maxBytes: number;
  readonly #onFull: () => void;
  readonly #onDrained: () => void;
  #items: SourceTransaction[] = [];
  #bytes = 0;
  #paused = false;
  #waiter: (() => void) | undefined;

  constructor(maxBytes: number, onFull: () => void, onDrained: () => void) {
    this.#maxBytes = maxBytes;
    this.#onFull = onFull;
    this.#onDrained = onDrained;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get length(): number {
    return this.#items.length;
  }

  push(item: SourceTransaction): void {
    this.#items.push(item);
    this.#bytes += item.bytes;
    if (!this.#paused && this.#bytes >= this.#maxBytes) {
      this.#paused = true;
      this.#onFull();
    }
    this.#wake();
  }

  /**
   * Takes whole transactions while they fit `maxEvents` and `maxBytes`; always at least one, so
   * a transaction larger than the bounds still goes out (alone, in one Kafka transaction).
   */
  take(maxEvents: number, maxBytes: number): SourceTransaction[] {
    const out: SourceTransaction[] = [];
    let events = 0;
    let bytes = 0;
    while (this.#items.length > 0) {
      const next = this.#items[0]!;
      if (out.length > 0 && (events + next.events.length > maxEvents || bytes + next.bytes > maxBytes)) break;
      out.push(next);
      events += next.events.length;
      bytes += next.bytes;
      this.#bytes -= next.bytes;
      this.#items.shift();
    }
    if (this.#paused && this.#bytes < this.#maxBytes / 2) {
      this.#paused = false;
      this.#onDrained();
    }
    return out;
  }

  /** Resolves when an item arrives, `wake()` is called, or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void> {
    if (this.#items.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#wake(), timeoutMs);
      this.#waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  wake(): void {
    this.#wake();
  }

  clear(): void {
    this.#items = [];
    this.#bytes = 0;
  }
}
