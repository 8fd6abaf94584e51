/**
 * Gives a service process the V8 heap limit of MAX_HEAP_MB. Node's default old-space limit is a
 * share of the machine's memory, so the heap grows far beyond what a service needs before a full
 * collection; a limit sized to the service's bounded buffers (queue, transactions, fetches, bulk
 * chunks) keeps its resident memory under 256 MiB. The young generation is capped too (3 × 8 MiB
 * semi-spaces instead of Node 24's up to 3 × 32 MiB): per-batch garbage dies young either way, and
 * the sink's bench measured peak RSS 324 → 202 MiB at the same rate. V8 reads these only at start-up, so the process replaces itself
 * (execve: same pid, same stdio, signals and orchestrators unaffected) with the flags added. A
 * limit given explicitly (`--max-old-space-size` in NODE_OPTIONS or on the command line) is left
 * alone, which also ends the re-exec after one step.
 */
const SEMI_SPACE_MB = 8;

export function applyHeapLimit(maxHeapMb: number): void {
  if (maxHeapMb === 0 || hasHeapLimit(process.execArgv) || hasHeapLimit((process.env.NODE_OPTIONS ?? '').split(/\s+/))) return;
  process.execve!(
    process.execPath,
    [process.execPath, `--max-old-space-size=${maxHeapMb}`, `--max-semi-space-size=${SEMI_SPACE_MB}`, ...process.execArgv, ...process.argv.slice(1)],
    process.env as Record<string, string>,
  );
}

function hasHeapLimit(args: readonly string[]): boolean {
  return args.some((arg) => /^--max[-_]old[-_]space[-_]size\b/.test(arg));
}
