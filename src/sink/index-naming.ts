/** Fills INDEX_NAME_TEMPLATE and makes the result a valid Elasticsearch index name. */
export function indexName(template: string, vars: { topic: string; prefix: string; database: string; table: string }): string {
  const filled = template.replace(/\{(topic|prefix|database|table)\}/g, (_m, name: keyof typeof vars) => vars[name]);
  const safe = filled
    .toLowerCase()
    .replace(/[\\/*?"<>| ,#:]/g, '_')
    .replace(/^[-_+.]+/, '');
  return Buffer.from(safe).subarray(0, 255).toString('utf8') || 'cdc';
}
