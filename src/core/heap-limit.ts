/**
 * Gives a service process the V8 heap limit of MAX_HEAP_MB. Node's default old-space limit is a
 * share of the machine's memory, so the heap grows far beyond what a service needs before a full
 * collection; a limit sized to the service's bounded buffers (queue, transactions, fetches, bulk
 * chunks) keeps its resident memory under 256 MiB. The young generation is capped too (3 × 8 MiB
 * semi-spaces instead of Node 24's up to 3 × 32 MiB): per-batch garbage dies young either way, and
 * the sink's bench measured peak RSS 324 → 202 MiB at the same rate. The old generation may grow
 * to twice what survived its last full collection before the next one (`--heap-growing-percent`):
 * below a 256 MiB limit V8 allows about 1.3 times, some 12 MiB over the sink's 40 MiB of live data,
 * and starts marking once the room left is under the young generation's size, so the sink was
 * marking nearly all the time (a full collection every 200 ms, a fifth of its CPU profile) however
 * little it promoted. V8 reads these only at start-up, so the process replaces itself
 * (execve: same pid, same stdio, signals and orchestrators unaffected) with the flags added. A
 * limit given explicitly (`--max-old-space-size` in NODE_OPTIONS or on the command line) is left
 * alone, which also ends the re-exec after one step.
 *
 * Both services also turn off V8's allocation-site pretenuring. Their per-record objects die
 * young (the snapshot encodes each row as it arrives, the sink renders each record into its bulk
 * body), but V8 learns to allocate some of them straight in the old generation, where a dead one
 * keeps the young objects it points to alive through every young collection until the next full
 * one. In the snapshot bench the young collections' pauses halved without it (4.6 -> 2.5 ms each
 * on average); the exactly-once stream measured the same either way, and the sink alone and end to
 * end came out ahead in each of three alternating pairs (docs/performance.md, tenth session).
 */
const SEMI_SPACE_MB = 8;
const HEAP_GROWING_PERCENT = 100;

export function applyHeapLimit(maxHeapMb: number): void {
  if (maxHeapMb === 0 || hasHeapLimit(process.execArgv) || hasHeapLimit((process.env.NODE_OPTIONS ?? '').split(/\s+/))) return;
  const flags = [`--max-old-space-size=${maxHeapMb}`, `--max-semi-space-size=${SEMI_SPACE_MB}`, `--heap-growing-percent=${HEAP_GROWING_PERCENT}`, '--no-allocation-site-pretenuring'];
  process.execve!(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], process.env as Record<string, string>);
}

function hasHeapLimit(args: readonly string[]): boolean {
  return args.some((arg) => /^--max[-_]old[-_]space[-_]size\b/.test(arg));
}
