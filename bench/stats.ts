/** The middle value of repeated measurements (the upper middle of an even count): one slow or fast run does not move it. */
export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The highest of repeated rates: the run least disturbed by the rest of the machine. */
export const best = (values: number[]): number => Math.max(...values);
