import type { ChangeEvent, Op, TableSchema } from '../core/change-event.ts';
import { versionOf } from '../core/version.ts';
import type { SinkConfig } from '../config/sink.ts';
import { buildTransforms } from '../transforms/catalog.ts';
import { chain, type Transform } from '../transforms/transform.ts';
import type { BulkAction } from './bulk-writer.ts';
import { documentId, documentJson, documentRow, rowDocumentId } from './document.ts';
import { metadataOf, type MetadataField } from './document-metadata.ts';
import { checkFieldNames } from './field-names.ts';
import { IndexNames } from './index-naming.ts';
import type { RenderedChange } from './record-decoder.ts';

/** What turns a decoded change into document actions: a pure function of the configuration. */
export interface RecordSettings {
  indexTemplate: string;
  topicPrefix: string;
  deleteMode: 'hard' | 'soft';
  keyless: 'row_hash' | 'skip';
  metadata: readonly MetadataField[];
  metadataPrefix: string;
  /** TRANSFORMS: every decoded change passes here before it becomes a document. */
  transform: Transform;
  /** The index of each table, refusing two tables on one index by accident (NAME_COLLISION). */
  indexNames: IndexNames;
  /**
   * A document is then the row image as it is (no transforms, hard deletes, no metadata): the
   * decoder may write its JSON text straight from the record's bytes (RenderedChange).
   */
  renderDocuments: boolean;
}

export function recordSettings(config: SinkConfig): RecordSettings {
  const transforms = buildTransforms(config.TRANSFORMS, { side: 'sink', topicOf: (event) => event.topic! });
  return {
    indexTemplate: config.INDEX_NAME_TEMPLATE,
    topicPrefix: config.TOPIC_PREFIX,
    deleteMode: config.DELETE_MODE,
    keyless: config.KEYLESS_TABLES,
    metadata: config.DOCUMENT_METADATA ?? [],
    metadataPrefix: config.DOCUMENT_METADATA_PREFIX,
    transform: chain(transforms),
    indexNames: new IndexNames(),
    renderDocuments: transforms.length === 0 && config.DELETE_MODE === 'hard' && (config.DOCUMENT_METADATA ?? []).length === 0,
  };
}

/** Why a record produced no document action. */
export type SkipReason = 'tombstone' | 'keyless' | 'filtered';

/** The actions of one record, and the index and (transformed) schema they need to exist. */
export interface RecordActions<T> {
  index: string;
  schema: TableSchema;
  actions: BulkAction<T>[];
}

/**
 * The document actions of one decoded record (null: a tombstone). Every action carries the
 * change's external version. A keyed row's document id is its key; a keyless row's is a hash of
 * its content, so an update removes the old content's document and indexes the new one, both
 * under the change's version, and replays stay idempotent. `origin` is handed back with a rejection.
 */
export function actionsOf<T>(change: ChangeEvent | null, settings: RecordSettings, origin: T): RecordActions<T> | SkipReason {
  if (!change) return 'tombstone';
  if (!change.key && settings.keyless === 'skip') return 'keyless';
  const event = settings.transform(change);
  if (!event) return 'filtered';
  checkFieldNames(event.schema);
  const index = settings.indexNames.of(change.schema, event.index ?? settings.indexTemplate, event.topic ?? change.topic!, settings.topicPrefix);
  const version = versionOf(change.position);
  if (change.key) return { index, schema: event.schema, actions: [{ index, id: documentId(change.key), version, document: documentOf(event, event.op, version, settings), origin }] };
  const removed = event.before && rowDocumentId(event.before);
  const added = event.after && rowDocumentId(event.after);
  const actions: BulkAction<T>[] = [];
  if (removed && removed !== added) actions.push({ index, id: removed, version, document: documentOf(event, 'd', version, settings), origin });
  if (added) actions.push({ index, id: added, version, document: documentOf(event, event.op, version, settings), origin });
  return { index, schema: event.schema, actions };
}

/** What a decoded record asks of the index: a rendered change's one action, the actions of a change, or why none. */
export function planActions<T>(change: ChangeEvent | RenderedChange | null, settings: RecordSettings, origin: T): RecordActions<T> | RenderedAction<T> | SkipReason {
  return change && 'document' in change ? renderedAction(change, settings, origin) : actionsOf(change, settings, origin);
}

/** A rendered change's one action, with the schema its index needs: one object per record on the direct path. */
export type RenderedAction<T> = BulkAction<T> & { schema: TableSchema };

/** The action of a change whose document the decoder wrote (settings.renderDocuments: nothing to transform or add). */
function renderedAction<T>(change: RenderedChange, settings: RecordSettings, origin: T): RenderedAction<T> {
  checkFieldNames(change.schema);
  const index = settings.indexNames.of(change.schema, settings.indexTemplate, change.topic, settings.topicPrefix);
  return { index, id: change.id, version: change.version, document: change.document, start: change.start, end: change.end, origin, schema: change.schema };
}

/**
 * The document text of a change (its row images as the transforms left them); null deletes. In
 * soft delete mode a delete is the row's last image marked `__deleted: true`, indexed under the
 * delete's version like any other change.
 */
function documentOf(event: ChangeEvent, op: Op, version: bigint, settings: RecordSettings): string | null {
  const deleted = op === 'd';
  if (deleted && settings.deleteMode === 'hard') return null;
  const row = documentRow(event.schema, (deleted ? event.before : event.after) ?? {});
  if (settings.deleteMode === 'hard' && settings.metadata.length === 0) return documentJson(row);
  const flag = settings.deleteMode === 'soft' ? { __deleted: deleted } : {};
  return documentJson({ ...row, ...flag, ...metadataOf(event, op, version, settings.metadata, settings.metadataPrefix) });
}
