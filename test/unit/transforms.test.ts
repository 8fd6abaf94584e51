import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/change-event.ts';
import { CdcError } from '../../src/core/errors.ts';
import { loadConfig } from '../../src/config/env.ts';
import { sinkSpec } from '../../src/config/sink.ts';
import { sourceSpec } from '../../src/config/source.ts';
import { envelopeSchema, flatValueSchema } from '../../src/source/avro-schema.ts';
import { topicFor } from '../../src/core/topics.ts';
import { cast } from '../../src/transforms/cast.ts';
import { buildTransforms, COMMON_OPTIONS, TRANSFORM_TYPES } from '../../src/transforms/catalog.ts';
import { dropFields, insertFields, renameFields } from '../../src/transforms/fields.ts';
import { filter } from '../../src/transforms/filter.ts';
import { indexRouter } from '../../src/transforms/index-router.ts';
import { route } from '../../src/transforms/route.ts';
import { chain, scoped } from '../../src/transforms/transform.ts';
import { unwrap } from '../../src/transforms/unwrap.ts';
import { customerEvent } from '../helpers/change-events.ts';

const topicOf = (event: ChangeEvent) => event.topic ?? topicFor('cdc', event.schema.database, event.schema.table);
const base = { SOURCE_ID: 'orders', MYSQL_HOST: 'db', MYSQL_USER: 'cdc', KAFKA_BROKERS: 'k1:9092', SCHEMA_REGISTRY_URL: 'http://registry:8081' };
const sinkBase = { KAFKA_BROKERS: 'k1:9092', SCHEMA_REGISTRY_URL: 'http://registry:8081', ELASTICSEARCH_URL: 'http://es:9200' };

function failure(fn: () => unknown, code: string): CdcError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof CdcError && error.code === code, String(error));
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('transforms, each alone', () => {
  it('route: renames a fully matching topic with groups, leaves others', () => {
    const r = route('r', /^cdc\.shop\.(.*)$/, 'shop_v2.$1', topicOf);
    assert.equal(r(customerEvent('c'))!.topic, 'shop_v2.customers');
    const other = route('r', /^nope$/, 'x', topicOf)(customerEvent('c'))!;
    assert.equal(other.topic, 'cdc.shop.customers');
    assert.match(failure(() => route('r', /^(.*)$/, '$1 with spaces', topicOf)(customerEvent('c')), 'TRANSFORM_FAILED').message, /not a valid Kafka topic name/);
  });

  it('filter: by op, by field comparison (numeric for numbers, text otherwise), include and exclude', () => {
    assert.equal(filter({ ops: ['c', 'u'], operator: 'eq', mode: 'include' })(customerEvent('d')), null);
    assert.ok(filter({ ops: ['c', 'u'], operator: 'eq', mode: 'include' })(customerEvent('u')));
    const rich = filter({ field: 'balance', operator: 'ge', value: '9.5', mode: 'include' });
    assert.ok(rich(customerEvent('c', { balance: '10.50' })), '10.50 >= 9.5 as numbers (not as text)');
    assert.equal(rich(customerEvent('c', { balance: '9.00' })), null);
    assert.equal(filter({ field: 'name', operator: 'in', value: 'Bob,Ada', mode: 'exclude' })(customerEvent('c')), null);
    assert.ok(filter({ field: 'name', operator: 'matches', value: 'A.a', mode: 'include' })(customerEvent('c')));
    assert.ok(filter({ field: 'notes', operator: 'is_null', mode: 'exclude' })(customerEvent('c')));
    assert.ok(filter({ field: 'balance', operator: 'lt', value: '9.5', mode: 'include' })(customerEvent('d')), 'a delete is compared on its before image (balance 9.00)');
  });

  it('filter matches: a catastrophic pattern over a 1 MB value takes linear time; backreferences and lookaround are refused', () => {
    const catastrophic = filter({ field: 'notes', operator: 'matches', value: '(a+)+b', mode: 'include' });
    const started = performance.now();
    assert.equal(catastrophic(customerEvent('c', { notes: 'a'.repeat(1024 * 1024) })), null);
    assert.ok(performance.now() - started < 5000, `took ${performance.now() - started} ms`);
    assert.ok(catastrophic(customerEvent('c', { notes: 'aaab' })), 'still a whole-value match');
    assert.equal(catastrophic(customerEvent('c', { notes: 'aaabc' })), null);
    const problems = (() => {
      try {
        loadConfig(sinkSpec, {
          ...sinkBase,
          TRANSFORMS: 'back,look',
          TRANSFORMS_BACK_TYPE: 'filter',
          TRANSFORMS_BACK_FIELD: 'name',
          TRANSFORMS_BACK_OPERATOR: 'matches',
          TRANSFORMS_BACK_VALUE: '(a)\\1',
          TRANSFORMS_LOOK_TYPE: 'filter',
          TRANSFORMS_LOOK_FIELD: 'name',
          TRANSFORMS_LOOK_OPERATOR: 'matches',
          TRANSFORMS_LOOK_VALUE: '(?=a)a',
        });
      } catch (error) {
        return (error as CdcError).details!.problems as string[];
      }
      assert.fail('expected CONFIG_INVALID');
    })();
    assert.ok(
      problems.some((p) => p.startsWith('TRANSFORMS_BACK_VALUE: "(a)\\\\1" is not a pattern the filter accepts (RE2 syntax')),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => p.startsWith('TRANSFORMS_LOOK_VALUE: "(?=a)a" is not a pattern the filter accepts')),
      problems.join('\n'),
    );
  });

  it('drop: removes columns by regex; a key column only on the sink', () => {
    const event = dropFields('d', [/^(?:ssn|notes)$/], true)(customerEvent('u'))!;
    assert.deepEqual(Object.keys(event.after!), ['id', 'name', 'email', 'balance']);
    assert.deepEqual(Object.keys(event.before!), ['id', 'name', 'email', 'balance']);
    failure(() => dropFields('d', [/^id$/], true)(customerEvent('c')), 'TRANSFORM_FAILED');
    assert.deepEqual(dropFields('d', [/^id$/], false)(customerEvent('c'))!.schema.key, []);
  });

  it('rename: renames columns and the key; refuses a clash', () => {
    const event = renameFields(
      'n',
      new Map([
        ['id', 'customer_id'],
        ['name', 'full_name'],
      ]),
    )(customerEvent('c'))!;
    assert.deepEqual(event.schema.key, ['customer_id']);
    assert.equal(event.after!.full_name, 'Ada');
    assert.equal(event.after!.customer_id, 7);
    assert.ok(!('name' in event.after!));
    failure(() => renameFields('n', new Map([['name', 'email']]))(customerEvent('c')), 'TRANSFORM_FAILED');
  });

  it('insert: static value, commit time and source position, in both images', () => {
    const event = insertFields('i', { staticField: 'origin', staticValue: 'eu-1', timestampField: 'committed_at', positionField: 'pos' })(customerEvent('u'))!;
    assert.equal(event.after!.origin, 'eu-1');
    assert.equal(event.after!.committed_at, '2024-01-02T03:04:05.678000Z');
    assert.equal(event.before!.pos, 'mariadb-bin.000003:1200#2');
    const kinds = Object.fromEntries(event.schema.columns.map((c) => [c.name, c.kind]));
    assert.equal(kinds.committed_at, 'timestamp');
    failure(() => insertFields('i', { staticField: 'name', staticValue: 'x' })(customerEvent('c')), 'TRANSFORM_FAILED');
  });

  it('cast: converts values and the column kind, the Avro schema follows; refuses what cannot convert', () => {
    const event = cast(
      'c',
      new Map([
        ['balance', 'float64'],
        ['id', 'string'],
      ]),
    )(customerEvent('c'))!;
    assert.equal(event.after!.balance, 10.5);
    assert.equal(event.after!.id, '7');
    const fields = JSON.stringify(envelopeSchema('cdc', event.schema));
    assert.match(fields, /"name":"balance","type":\["null","double"\]/);
    assert.equal(cast('c', new Map([['balance', 'int64']]))(customerEvent('c'))!.after!.balance, 10n, 'fractions truncate toward zero');
    assert.equal(cast('c', new Map([['balance', 'int32']]))(customerEvent('c', { balance: '-3.99' }))!.after!.balance, -3);
    failure(() => cast('c', new Map([['name', 'int32']]))(customerEvent('c')), 'TRANSFORM_FAILED');
    failure(() => cast('c', new Map([['balance', 'int32']]))(customerEvent('c', { balance: '3000000000' })), 'TRANSFORM_FAILED');
  });

  it('index_router: picks the index from the topic with groups', () => {
    const event = indexRouter(/^cdc\.(\w+)\.(\w+)$/, '$2-{database}')({ ...customerEvent('c'), topic: 'cdc.shop.customers' })!;
    assert.equal(event.index, 'customers-{database}');
    assert.equal(indexRouter(/^other$/, 'x')({ ...customerEvent('c'), topic: 'cdc.shop.customers' })!.index, undefined);
  });

  it('unwrap: the row plus chosen metadata as a flat record; deletes rewritten or dropped', () => {
    const flat = unwrap({ fields: ['op', 'source_ts_ms', 'position'], deletes: 'rewrite', prefix: '__' });
    const update = flat(customerEvent('u'))!;
    assert.equal(update.flat, true);
    assert.deepEqual(update.after, { ...customerEvent('u').after, __op: 'u', __source_ts_ms: 1704164645678n, __position: 'mariadb-bin.000003:1200#2', __deleted: false });
    const deleted = flat(customerEvent('d'))!;
    assert.equal(deleted.after!.__deleted, true);
    assert.equal(deleted.after!.balance, '9.00', 'a rewritten delete carries the last image');
    assert.deepEqual(Object.keys(flatValueSchema('cdc', update.schema)), ['type', 'name', 'namespace', 'fields']);
    assert.equal(unwrap({ fields: [], deletes: 'drop', prefix: '__' })(customerEvent('d')), null);
  });

  it('TABLES limits a transform to some tables', () => {
    const dropEverything = filter({ ops: ['x' as never], operator: 'eq', mode: 'include' });
    assert.ok(scoped(dropEverything, [/^other\.t$/])(customerEvent('c')), 'out of scope: untouched');
    assert.equal(scoped(dropEverything, [/^shop\..*$/])(customerEvent('c')), null);
  });
});

describe('transform chain configuration', () => {
  const env = {
    TRANSFORMS: 'route,onlyRich,hide,rename,stamp',
    TRANSFORMS_ROUTE_TYPE: 'route',
    TRANSFORMS_ROUTE_REGEX: 'cdc\\.shop\\.(.*)',
    TRANSFORMS_ROUTE_REPLACEMENT: 'cdc.crm.$1',
    TRANSFORMS_ONLYRICH_TYPE: 'filter',
    TRANSFORMS_ONLYRICH_FIELD: 'balance',
    TRANSFORMS_ONLYRICH_OPERATOR: 'gt',
    TRANSFORMS_ONLYRICH_VALUE: '10',
    TRANSFORMS_HIDE_TYPE: 'drop',
    TRANSFORMS_HIDE_FIELDS: 'ssn,notes',
    TRANSFORMS_HIDE_TABLES: 'shop\\.customers',
    TRANSFORMS_RENAME_TYPE: 'rename',
    TRANSFORMS_RENAME_RENAMES: 'name:full_name',
    TRANSFORMS_STAMP_TYPE: 'insert',
    TRANSFORMS_STAMP_STATIC_FIELD: 'origin',
    TRANSFORMS_STAMP_STATIC_VALUE: 'eu',
  };

  it('builds the chain in order from TRANSFORMS_<NAME>_<OPTION> variables', () => {
    const config = loadConfig(sourceSpec, { ...base, ...env });
    assert.deepEqual(
      config.TRANSFORMS.map((t) => [t.name, t.type]),
      [
        ['route', 'route'],
        ['onlyRich', 'filter'],
        ['hide', 'drop'],
        ['rename', 'rename'],
        ['stamp', 'insert'],
      ],
    );
    const run = chain(buildTransforms(config.TRANSFORMS, { side: 'source', topicOf }));
    assert.equal(run(customerEvent('c', { balance: '10.00' })), null, 'filtered out');
    const event = run(customerEvent('c'))!;
    assert.equal(event.topic, 'cdc.crm.customers');
    assert.deepEqual(event.after, { id: 7, full_name: 'Ada', email: 'ada@example.com', balance: '10.50', origin: 'eu' });
    assert.equal(run(customerEvent('c'))!.schema, event.schema, 'one output schema per table through the whole chain');
  });

  it('refuses an invalid chain with every problem listed at once', () => {
    const problems = (() => {
      try {
        loadConfig(sourceSpec, {
          ...base,
          TRANSFORMS: 'route,f,bad-name,router,nope,route',
          TRANSFORMS_ROUTE_TYPE: 'route',
          TRANSFORMS_ROUTE_REGX: 'typo',
          TRANSFORMS_F_TYPE: 'filter',
          TRANSFORMS_F_OPERATOR: 'between',
          TRANSFORMS_ROUTER_TYPE: 'index_router',
          TRANSFORMS_ROUTER_INDEX: 'x',
          TRANSFORMS_NOPE_TYPE: 'explode',
          TRANSFORMS_GHOST_TYPE: 'drop',
        });
      } catch (error) {
        assert.ok(error instanceof CdcError && error.code === 'CONFIG_INVALID');
        return error.details!.problems as string[];
      }
      assert.fail('expected CONFIG_INVALID');
    })();
    const expected = [
      /^TRANSFORMS: "bad-name" is not a valid transform name/,
      /^TRANSFORMS: route is listed twice/,
      /^TRANSFORMS_ROUTE_REGX: unknown option of route \(known: REGEX, REPLACEMENT, TABLES\)/,
      /^TRANSFORMS_ROUTE_REGEX: is required by route/,
      /^TRANSFORMS_ROUTE_REPLACEMENT: is required by route/,
      /^TRANSFORMS_F_OPERATOR: .*"eq"/,
      /^TRANSFORMS_ROUTER_TYPE: index_router runs only on the sink/,
      /^TRANSFORMS_NOPE_TYPE: unknown transform type "explode"/,
      /^TRANSFORMS_GHOST_TYPE: belongs to no transform listed in TRANSFORMS/,
    ];
    for (const re of expected)
      assert.ok(
        problems.some((p) => re.test(p)),
        `${re} in\n${problems.join('\n')}`,
      );
    assert.equal(problems.length, expected.length, problems.join('\n'));
  });

  it('checks options against each other (a filter needs a condition, an insert a field)', () => {
    try {
      loadConfig(sinkSpec, { ...sinkBase, TRANSFORMS: 'f,i', TRANSFORMS_F_TYPE: 'filter', TRANSFORMS_I_TYPE: 'insert', TRANSFORMS_I_STATIC_VALUE: 'x' });
      assert.fail('expected CONFIG_INVALID');
    } catch (error) {
      const problems = (error as CdcError).details!.problems as string[];
      assert.ok(
        problems.some((p) => p.startsWith('TRANSFORMS_F_OPS: a filter needs OPS or FIELD')),
        problems.join('\n'),
      );
      assert.ok(
        problems.some((p) => p.startsWith('TRANSFORMS_I_STATIC_FIELD')),
        problems.join('\n'),
      );
    }
  });

  it('documents every transform type and option in docs/transforms.md', () => {
    const doc = readFileSync(new URL('../../docs/transforms.md', import.meta.url), 'utf8');
    for (const [type, spec] of Object.entries(TRANSFORM_TYPES)) {
      assert.ok(doc.includes(`### \`${type}\``), `section for ${type}`);
      for (const option of Object.keys(spec.options)) assert.ok(doc.includes(`\`${option}\``), `${type} option ${option}`);
    }
    for (const option of Object.keys(COMMON_OPTIONS)) assert.ok(doc.includes(`\`${option}\``), option);
  });
});
