/** What a topic refresh does with the consumer: keep it, let new topics wait, or replace it. */
export type PickupDecision = 'keep' | 'wait' | 'replace';

/**
 * When the sink's consumer takes up a changed list of matching topics. kafkajs cannot add topics
 * to a running consumer, so taking them up means replacing it: it leaves the group and drops the
 * batches in hand (its successor reads them again), and the new one rejoins. A consumer with no
 * batch in hand is replaced at once. A busy one keeps going while topics are only added, until it
 * has no batch in hand at a refresh or `maxDelayMs` after the first new topic was found: a burst
 * of new tables (a snapshot creates them a hundred at a time) then costs one or two replacements
 * instead of one per refresh. A topic gone from the list replaces the consumer at once.
 */
export class TopicPickup {
  readonly #maxDelayMs: number;
  /** When the first new topic still waiting was found; undefined when none waits. */
  #waitingSince: number | undefined;

  constructor(maxDelayMs: number) {
    this.#maxDelayMs = maxDelayMs;
  }

  /** Whether new topics are waiting for the consumer to be replaced. */
  get waiting(): boolean {
    return this.#waitingSince !== undefined;
  }

  decide(subscribed: ReadonlySet<string>, found: ReadonlySet<string>, busy: boolean, now = Date.now()): PickupDecision {
    const added = [...found].some((topic) => !subscribed.has(topic));
    const removed = [...subscribed].some((topic) => !found.has(topic));
    if (!added && !removed) {
      this.#waitingSince = undefined;
      return 'keep';
    }
    if (busy && !removed) {
      this.#waitingSince ??= now;
      if (now - this.#waitingSince < this.#maxDelayMs) return 'wait';
    }
    this.#waitingSince = undefined;
    return 'replace';
  }
}
