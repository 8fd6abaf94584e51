#!/usr/bin/env node
/**
 * The entry point, kept small because a service starts twice: it re-executes itself with its heap
 * limit (core/heap-limit.ts). So the limit is applied here, from the service's MAX_HEAP_MB alone,
 * before the commands' module graph loads (a static import would load and compile all of it in the
 * first process too; loading and checking the whole configuration took 140–200 ms there, against
 * 85–110 ms for MAX_HEAP_MB alone);
 * the configuration is checked by the command, which lists every problem. An invalid MAX_HEAP_MB
 * leaves the heap alone here, so the command reports it with the rest.
 * V8's compile cache (in the system's temporary directory) is on before anything loads: every start
 * after the first compiles in about half the time. Where that directory is not writable, Node
 * compiles as before.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache();

/** The service's MAX_HEAP_MB alone: the rest of its configuration is loaded (and checked) after the re-exec. */
async function serviceHeap(command: string | undefined): Promise<{ MAX_HEAP_MB: number } | undefined> {
  if (command !== 'source' && command !== 'sink') return undefined;
  const [{ sourceHeapSpec, serviceHeapSpec }, { loadConfig }] = await Promise.all([import('./config/heap.ts'), import('./config/env.ts')]);
  try {
    return loadConfig(command === 'source' ? sourceHeapSpec : serviceHeapSpec, process.env);
  } catch {
    return undefined;
  }
}

const heap = await serviceHeap(process.argv[2]);
if (heap) (await import('./core/heap-limit.ts')).applyHeapLimit(heap.MAX_HEAP_MB);
// Before the commands' module graph, which loads zongji.
await import('./source/zongji-patches.ts');
await import('./commands.ts');
