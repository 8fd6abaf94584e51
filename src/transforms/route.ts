import type { ChangeEvent } from '../core/change-event.ts';
import { transformError, type Transform } from './transform.ts';

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/**
 * Kafka Connect's RegexRouter: a topic that fully matches `regex` becomes `replacement` (`$1`…
 * refer to its groups); others are left as they are. On the source the new topic gets its own
 * registry subjects (`<topic>-key`, `<topic>-value`); on the sink it is the `{topic}` of
 * INDEX_NAME_TEMPLATE.
 */
export function route(name: string, regex: RegExp, replacement: string, topicOf: (event: ChangeEvent) => string): Transform {
  const cache = new Map<string, string>();
  return (event) => {
    const topic = topicOf(event);
    let routed = cache.get(topic);
    if (routed === undefined) {
      routed = regex.test(topic) ? topic.replace(regex, replacement) : topic;
      if (!TOPIC_NAME.test(routed)) {
        throw transformError(
          `transform ${name}`,
          `routes ${topic} to ${JSON.stringify(routed)}, which is not a valid Kafka topic name`,
          'Topic names are 1–249 letters, digits, `.`, `_` or `-`: change REPLACEMENT.',
        );
      }
      cache.set(topic, routed);
    }
    return routed === event.topic ? event : { ...event, topic: routed };
  };
}
