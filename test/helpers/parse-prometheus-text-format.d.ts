// The package ships no types: just the shape test/helpers/prometheus.ts reads.
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): Array<{ name: string; help: string; type: string; metrics: Array<Record<string, unknown>> }>;
}
