import { readFileSync } from 'node:fs';

/**
 * The top self-time functions of a V8 CPU profile (`node --cpu-prof`), as the bench's note reports
 * them: `node bench/cpu-profile-top.ts <file.cpuprofile> [n]`.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export function topSelfTime(file: string, n = 10): Array<{ name: string; ms: number; share: number }> {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const where = frame.url ? `${frame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${frame.lineNumber + 1}` : '';
    const name = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    const us = profile.timeDeltas[i] ?? 0;
    self.set(name, (self.get(name) ?? 0) + us);
    total += us;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: us / 1000, share: us / total }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const { name, ms, share } of topSelfTime(process.argv[2]!, Number(process.argv[3] ?? 10))) console.log(`${(share * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(7)} ms  ${name}`);
}
