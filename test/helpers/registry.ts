import { stackEnv } from './stack.ts';

/**
 * Which of `candidates` are registered subjects, asked one by one (Confluent's
 * GET /subjects/{subject}/versions: 200 or 404). Listing GET /subjects does not do: Apicurio's
 * Confluent API answers at most 1,000 subjects, and a stack reused across `make test` runs holds
 * more (two suites failed so on a fourth run).
 */
export async function registeredSubjects(candidates: readonly string[]): Promise<string[]> {
  const registry = stackEnv().SCHEMA_REGISTRY_URL;
  const found: string[] = [];
  for (const subject of candidates) {
    const response = await fetch(`${registry}/subjects/${encodeURIComponent(subject)}/versions`);
    await response.body?.cancel();
    if (response.status === 200) found.push(subject);
    else if (response.status !== 404) throw new Error(`registry answered ${response.status} for subject ${subject}`);
  }
  return found.sort();
}
