import { envVar } from './env.ts';
import { int } from '../core/env-values.ts';

/**
 * MAX_HEAP_MB with a service's own default: V8 lets its heap grow towards the limit while the
 * service allocates fast, so the limit, more than what is live, sets the resident memory; the
 * source gets a smaller one (docs/operations.md, "Source memory"). In a module of its own because
 * the entry point (cli.ts) reads it before anything else loads: the process then re-executes
 * itself with the limit, and every module the first process loads is loaded twice.
 */
function maxHeapVar(defaultMb: number) {
  return envVar(
    int(0, 1_000_000).default(defaultMb),
    "V8 old-space limit of the service process in MiB (`--max-old-space-size`, with 8 MiB semi-spaces, an old generation that may double between full collections and allocation-site pretenuring off), sized so that resident memory stays under 256 MiB with the default queue, transaction, fetch and bulk bounds: the service restarts itself with it at start-up (same pid) unless Node already runs with a `--max-old-space-size` (NODE_OPTIONS or the command line), which wins. 0 leaves Node's default (a share of the machine's memory). Raise it with QUEUE_MAX_BYTES and TXN_MAX_BYTES (source) or BULK_MAX_BYTES × SINK_PARTITION_CONCURRENCY (sink).",
    { default: String(defaultMb) },
  );
}

/** The services' MAX_HEAP_MB (the sink's and the file connectors', common.ts). */
export const serviceHeapSpec = { MAX_HEAP_MB: maxHeapVar(160) };
/** The source's smaller default. */
export const sourceHeapSpec = { MAX_HEAP_MB: maxHeapVar(128) };
