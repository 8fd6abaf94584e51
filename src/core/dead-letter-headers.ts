import type { IHeaders } from 'kafkajs';
import type { CdcError } from './errors.ts';

/** Where a dead letter was meant to go or came from; partition and offset only when it was in Kafka. */
export interface LetterOrigin {
  topic: string;
  partition?: number;
  offset?: string;
}

/**
 * Context headers in the spirit of Kafka Connect's `__connect.errors.*`, so existing tooling that
 * reads Connect dead-letter topics understands ours; `cdc.errors.*` add our code and the reason.
 * The sink's letters (records it could not apply) and the source's (changes too large to produce)
 * share them.
 */
export function errorHeaders(error: CdcError, origin: LetterOrigin, now = new Date()): IHeaders {
  const reason = (error.details?.reason as string | undefined) ?? '';
  return {
    '__connect.errors.topic': origin.topic,
    ...(origin.partition === undefined ? {} : { '__connect.errors.partition': String(origin.partition) }),
    ...(origin.offset === undefined ? {} : { '__connect.errors.offset': origin.offset }),
    '__connect.errors.exception.class.name': error.code,
    '__connect.errors.exception.message': error.message,
    'cdc.errors.code': error.code,
    'cdc.errors.reason': reason,
    'cdc.errors.timestamp': now.toISOString(),
  };
}
