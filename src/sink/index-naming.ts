import type { TableSchema } from '../core/change-event.ts';
import { CdcError } from '../core/errors.ts';
import { NameClaims } from '../core/name-claims.ts';

type NameVars = { topic: string; prefix: string; database: string; table: string };

const fill = (template: string, vars: NameVars): string => template.replace(/\{(topic|prefix|database|table)\}/g, (_m, name: keyof NameVars) => vars[name]);

/** Fills INDEX_NAME_TEMPLATE and makes the result a valid Elasticsearch index name. */
export function indexName(template: string, vars: NameVars): string {
  return validIndexName(fill(template, vars));
}

function validIndexName(filled: string): string {
  const safe = filled
    .toLowerCase()
    .replace(/[\\/*?"<>| ,#:]/g, '_')
    .replace(/^[-_+.]+/, '');
  return Buffer.from(safe).subarray(0, 255).toString('utf8') || 'cdc';
}

/**
 * The index of each decoded table schema, computed once per schema, template and topic, and
 * checked against the others: index names are lower-cased and stripped of characters
 * Elasticsearch refuses, so `Orders` and `orders` (both allowed by MariaDB on Linux) would fill
 * one index. The second table to reach such a name gets NAME_COLLISION, retriable: its partitions
 * are held, nothing of it is written or dead-lettered, until the operator gives it another name and
 * restarts the sink. Tables sent to one index on purpose fill in the same raw name and pass.
 */
export class IndexNames {
  readonly #claims = new NameClaims();
  readonly #bySchema = new WeakMap<TableSchema, Map<string, string>>();
  /** The last answer: records come in runs of one table and topic, which then need no key built. */
  #last: { schema: TableSchema; template: string; topic: string; name: string } | undefined;

  of(schema: TableSchema, template: string, topic: string, prefix: string): string {
    const last = this.#last;
    if (last && last.schema === schema && last.template === template && last.topic === topic) return last.name;
    const name = this.#lookUp(schema, template, topic, prefix);
    this.#last = { schema, template, topic, name };
    return name;
  }

  #lookUp(schema: TableSchema, template: string, topic: string, prefix: string): string {
    let byTemplate = this.#bySchema.get(schema);
    if (!byTemplate) {
      byTemplate = new Map();
      this.#bySchema.set(schema, byTemplate);
    }
    const cacheKey = `${template}\u0000${topic}`;
    let name = byTemplate.get(cacheKey);
    if (name === undefined) {
      const filled = fill(template, { topic, prefix, database: schema.database, table: schema.table });
      name = validIndexName(filled);
      const owner = `${schema.database}.${schema.table}`;
      const other = this.#claims.claim(name, filled, owner);
      if (other !== undefined && other !== owner) throw collision(other, owner, name, template);
      byTemplate.set(cacheKey, name);
    }
    return name;
  }
}

function collision(other: string, owner: string, index: string, template: string): CdcError {
  return new CdcError(
    'NAME_COLLISION',
    `Tables ${other} and ${owner} both map to the Elasticsearch index ${index} (index names are lower-cased and some characters replaced; INDEX_NAME_TEMPLATE=${template})`,
    {
      retriable: true,
      hint: `Send one of them to another index with an index_router transform (TRANSFORMS=own, TRANSFORMS_OWN_TYPE=index_router, TRANSFORMS_OWN_TABLES=<table regex>, TRANSFORMS_OWN_INDEX=<index>), or leave one out (a filter transform or the source's TABLE_EXCLUDE); then restart the sink. Until then the sink holds ${owner}'s partitions (no commit, no dead letter).`,
      details: { tables: [other, owner], index, setting: 'INDEX_NAME_TEMPLATE' },
    },
  );
}
