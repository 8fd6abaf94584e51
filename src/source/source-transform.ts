import type { SourceConfig } from '../config/source.ts';
import { buildTransforms } from '../transforms/catalog.ts';
import { columnMasking } from '../transforms/masking.ts';
import { columnSelection } from '../transforms/selection.ts';
import { chain, type Transform } from '../transforms/transform.ts';
import { topicFor } from '../core/topics.ts';

/**
 * What the source does to each change before encoding it, in this order: column selection
 * (excluded columns never reach a schema), masking (the Avro type follows), then the TRANSFORMS
 * chain. Without any of them events pass through untouched.
 */
export function sourceTransform(config: SourceConfig): Transform {
  const topicOf: Parameters<typeof buildTransforms>[1]['topicOf'] = (event) => event.topic ?? topicFor(config.TOPIC_PREFIX, event.schema.database, event.schema.table);
  return chain([columnSelection(config), columnMasking(config), ...buildTransforms(config.TRANSFORMS, { side: 'source', topicOf })].filter((t): t is Transform => t !== undefined));
}
