/** A small deterministic generator of numbers in [0, 1): a test's failure repeats with its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/** One of `values`, chosen by `next`. */
export const pick = <T>(next: () => number, values: readonly T[]): T => values[Math.floor(next() * values.length)]!;
