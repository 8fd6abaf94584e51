#!/usr/bin/env node
/**
 * The entry point, kept small because a service starts twice: it re-executes itself with its heap
 * limit (core/heap-limit.ts). So the limit is applied here, from the service's own configuration,
 * before the commands' module graph loads (a static import would load and compile all of it in the
 * first process too); an invalid configuration is left to the command, which lists every problem.
 * V8's compile cache (in the system's temporary directory) is on before anything loads: every start
 * after the first compiles in about half the time. Where that directory is not writable, Node
 * compiles as before.
 */
import { enableCompileCache } from 'node:module';

enableCompileCache();

async function serviceConfig(command: string | undefined): Promise<{ MAX_HEAP_MB: number } | undefined> {
  const spec = command === 'source' ? (await import('./config/source.ts')).sourceSpec : command === 'sink' ? (await import('./config/sink.ts')).sinkSpec : undefined;
  if (!spec) return undefined;
  const { loadConfig } = await import('./config/env.ts');
  try {
    return loadConfig(spec, process.env);
  } catch {
    return undefined;
  }
}

const config = await serviceConfig(process.argv[2]);
if (config) (await import('./core/heap-limit.ts')).applyHeapLimit(config.MAX_HEAP_MB);
// Before the commands' module graph, which loads zongji.
await import('./source/zongji-patches.ts');
await import('./commands.ts');
