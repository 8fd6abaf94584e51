/** Clients whose refusals are counted; beyond it the oldest count is forgotten (memory stays bounded under a flood from many addresses). */
const MAX_CLIENTS = 10_000;
const MINUTE_MS = 60_000;

/**
 * Counts refused admin calls per client address in fixed one-minute windows. A client over the
 * limit is refused (429) without its token being checked until its window ends, so guessing
 * tokens is slowed to `perMinute` tries a minute per address; other addresses are not affected.
 */
export class RefusalRateLimit {
  readonly #perMinute: number;
  readonly #clients = new Map<string, { since: number; refused: number }>();

  constructor(perMinute: number) {
    this.#perMinute = perMinute;
  }

  /** Milliseconds until `client` may try again, or 0 when it may now. */
  retryAfterMs(client: string, now = Date.now()): number {
    const entry = this.#clients.get(client);
    if (!entry || now - entry.since >= MINUTE_MS) return 0;
    return entry.refused >= this.#perMinute ? entry.since + MINUTE_MS - now : 0;
  }

  refused(client: string, now = Date.now()): void {
    let entry = this.#clients.get(client);
    if (!entry || now - entry.since >= MINUTE_MS) {
      this.#clients.delete(client);
      if (this.#clients.size >= MAX_CLIENTS) this.#clients.delete(this.#clients.keys().next().value!);
      entry = { since: now, refused: 0 };
      this.#clients.set(client, entry);
    }
    entry.refused++;
  }
}
