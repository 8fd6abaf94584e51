import assert from 'node:assert/strict';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

export interface MetricFamily {
  name: string;
  help: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }>;
}

/**
 * Parses a /metrics answer with a Prometheus text-format parser (it throws on malformed lines)
 * and checks what the parser tolerates: every family has a TYPE and a HELP, every value is a number.
 */
export function parseMetrics(text: string): Map<string, MetricFamily> {
  const families = parsePrometheusTextFormat(text) as MetricFamily[];
  const byName = new Map<string, MetricFamily>();
  for (const family of families) {
    assert.notEqual(family.type, 'UNTYPED', `${family.name} has no TYPE line`);
    assert.ok(family.help, `${family.name} has no HELP line`);
    for (const metric of family.metrics) {
      for (const value of [metric.value, metric.count, metric.sum, ...Object.values(metric.buckets ?? {})]) {
        if (value !== undefined) assert.ok(!Number.isNaN(Number(value)), `${family.name}: ${value} is not a number`);
      }
    }
    assert.ok(!byName.has(family.name), `${family.name} appears twice`);
    byName.set(family.name, family);
  }
  return byName;
}
