import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdcError } from '../core/errors.ts';
import { parseLine } from './archive-format.ts';

/**
 * Topics an archive must not write into unless FILE_SOURCE_TOPIC_MAP names them: Kafka's own
 * (`__consumer_offsets`, `__transaction_state`, every `__` name) and a pipeline's offsets,
 * heartbeats and dead letters (`<prefix>.offsets`, …; a prefix has no dot, and table topics
 * have three parts, so these names cannot be a table's). Writing into them would move a source's
 * stored position, fake heartbeats or forge dead letters.
 */
export function isInternalTopic(topic: string): boolean {
  return topic.startsWith('__') || /^[A-Za-z0-9_-]+\.(offsets|heartbeats|dlq)$/.test(topic);
}

/**
 * Checks a whole archive before anything is written: every record line names the topic and
 * partition of the file it is in (`<topic>/<partition>-<offset>.jsonl`), so a tampered line cannot
 * redirect a record, and no archived topic restores into an internal topic unless mapped
 * explicitly. Malformed lines are ARCHIVE_INVALID here too, rather than half-way through a restore.
 */
export function checkArchive(root: string, files: string[], targetOf: (topic: string) => string, explicit: ReadonlyMap<string, string> | undefined): void {
  const refused = (message: string) =>
    new CdcError('ARCHIVE_TOPIC_REFUSED', message, {
      hint: 'Restore archives written by `cdc file-sink` as they are; to restore an internal topic on purpose, name it in FILE_SOURCE_TOPIC_MAP (archived=target). Nothing was written.',
    });
  for (const topic of new Set(files.map((f) => f.split('/')[0]!))) {
    const target = targetOf(topic);
    if (isInternalTopic(target) && explicit?.get(topic) !== target) throw refused(`The archive's directory ${topic} would restore into the internal topic ${target}`);
  }
  for (const file of files) {
    const [topic, name] = file.split('/') as [string, string];
    const partition = Number(name.split('-')[0]);
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((text, i) => {
        if (text === '') return;
        const line = parseLine(text, file, i + 1);
        if (line.type === 'record' && (line.topic !== topic || line.partition !== partition)) {
          throw refused(`${file}:${i + 1} names topic ${JSON.stringify(line.topic.slice(0, 200))} partition ${line.partition}, not the ${topic} partition ${partition} of its file`);
        }
      });
  }
}
