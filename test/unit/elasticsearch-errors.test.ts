import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errors } from '@elastic/elasticsearch';
import { classifyItem, elasticsearchError, isHeldCondition } from '../../src/sink/elasticsearch-errors.ts';

/** A refusal as the client raises it, with Elasticsearch's answer body (as real clusters send them). */
function refusal(statusCode: number, type: string, reason: string): errors.ResponseError {
  return new errors.ResponseError({ body: { error: { type, reason }, status: statusCode }, statusCode, headers: {}, warnings: null, meta: {} } as never);
}

const SHARD_LIMIT = 'Validation Failed: 1: this action would add [2] shards, but this cluster currently has [1000]/[1000] maximum normal shards open;';
const FLOOD_STAGE = 'index [shop_orders] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];';

describe('Elasticsearch request failures', () => {
  it('tell conditions of the cluster or the user (held and retried) from refusals of the record and from wrong credentials', () => {
    const table: Array<[errors.ResponseError, string, boolean, boolean]> = [
      // error, code, retriable, held (readiness reports it at once)
      [refusal(400, 'validation_exception', SHARD_LIMIT), 'ELASTICSEARCH_CLUSTER_LIMIT', true, true],
      [refusal(400, 'validation_exception', 'Validation Failed: 1: mapping type is missing;'), 'ELASTICSEARCH_REJECTED', false, false],
      [refusal(429, 'cluster_block_exception', FLOOD_STAGE), 'ELASTICSEARCH_BLOCKED', true, true],
      [refusal(403, 'cluster_block_exception', 'index [x] blocked by: [FORBIDDEN/8/index write (api)];'), 'ELASTICSEARCH_BLOCKED', true, true],
      [refusal(403, 'security_exception', 'action [indices:admin/create] is unauthorized for user [cdc]'), 'AUTH_FAILED', true, true],
      [refusal(401, 'security_exception', 'unable to authenticate user [cdc]'), 'AUTH_FAILED', false, false],
      [refusal(400, 'illegal_argument_exception', 'mapper [qty] cannot be changed from type [long] to [text]'), 'ELASTICSEARCH_REJECTED', false, false],
      [refusal(503, 'unavailable_shards_exception', 'primary shard is not active'), 'ELASTICSEARCH_UNAVAILABLE', true, false],
      [refusal(429, 'es_rejected_execution_exception', 'rejected execution'), 'ELASTICSEARCH_UNAVAILABLE', true, false],
    ];
    for (const [error, code, retriable, held] of table) {
      const cdc = elasticsearchError(error, 'Creating index x', 'a mapping hint');
      const label = `${error.statusCode} ${(error.body as { error: { type: string } }).error.type}`;
      assert.equal(cdc.code, code, label);
      assert.equal(cdc.retriable, retriable, label);
      assert.equal(isHeldCondition(cdc), held, label);
      if (held) assert.doesNotMatch(cdc.hint ?? '', /mapping/, `${label}: not the mapping hint`);
    }
    assert.match(elasticsearchError(refusal(400, 'validation_exception', SHARD_LIMIT), 'Creating index x').describe(), /cluster\.max_shards_per_node/);
    assert.match(elasticsearchError(refusal(429, 'cluster_block_exception', FLOOD_STAGE), 'Writing').describe(), /flood_stage.*read_only_allow_delete/);
  });
});

describe('bulk item outcomes', () => {
  it('retry items refused by a block or a missing privilege instead of rejecting them', () => {
    const table: Array<[number, string | undefined, string]> = [
      [403, 'cluster_block_exception', 'retry'],
      [429, 'cluster_block_exception', 'retry'],
      [403, 'security_exception', 'retry'],
      [400, 'mapper_parsing_exception', 'reject'],
      [400, 'document_parsing_exception', 'reject'],
      [403, undefined, 'reject'],
    ];
    for (const [status, type, outcome] of table) assert.equal(classifyItem(status, false, type), outcome, `${status} ${type}`);
  });
});
