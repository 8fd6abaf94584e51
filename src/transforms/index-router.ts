import type { Transform } from './transform.ts';

/**
 * Sink only: events whose topic fully matches `regex` go to the index `index`, where `$1`… are the
 * regex's groups and `{topic}`, `{prefix}`, `{database}`, `{table}` are filled by the sink exactly
 * as in INDEX_NAME_TEMPLATE (then lower-cased and made Elasticsearch-safe). Other events keep the
 * template's index.
 */
export function indexRouter(regex: RegExp, index: string): Transform {
  return (event) => {
    const topic = event.topic ?? '';
    return regex.test(topic) ? { ...event, index: topic.replace(regex, index) } : event;
  };
}
