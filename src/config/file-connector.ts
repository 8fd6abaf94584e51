import { z } from 'zod';
import { adminSpec } from './admin.ts';
import { commonSpec } from './common.ts';
import { envVar, type ConfigOf } from './env.ts';
import { int, list, text } from '../core/env-values.ts';

/** `cdc file-sink`: topics → JSON-lines archive files (Kafka Connect's FileStreamSink, with schemas). */
export const fileSinkSpec = {
  ...commonSpec,
  FILE_SINK_TOPICS: envVar(list(), 'Comma-separated topics to archive.'),
  FILE_SINK_DIR: envVar(text(), 'Directory of the archive: one file series per topic and partition.'),
  FILE_SINK_GROUP_ID: envVar(text().default('cdc-file-sink'), 'Consumer group; its offsets are committed only after the lines are fsynced.', { default: 'cdc-file-sink' }),
  FILE_ROTATE_BYTES: envVar(int(1024).default(64 * 1024 * 1024), 'Start a new file after this many bytes.', { default: '67108864' }),
  FILE_ROTATE_MS: envVar(int(1000).default(3_600_000), 'Start a new file after this many milliseconds.', { default: '3600000' }),
  ...adminSpec,
};

/** `cdc file-source`: an archive → Kafka, re-encoded through the registry, then exit. */
export const fileSourceSpec = {
  ...commonSpec,
  FILE_SOURCE_DIR: envVar(text(), 'Archive directory written by `cdc file-sink`.'),
  FILE_SOURCE_ID: envVar(
    text()
      .regex(/^[A-Za-z0-9._-]+$/, 'may contain only letters, digits, ., _ and -')
      .default('cdc-file-source'),
    'Identity of this restore: Kafka transactional id and key of its stored progress in `<TOPIC_PREFIX>.offsets`.',
    { default: 'cdc-file-source' },
  ),
  FILE_SOURCE_TOPIC_RENAME: envVar(
    z
      .string()
      .regex(/^[^=]+=.*$/, 'must be `regex=replacement`')
      .optional(),
    'Restore into other topics: `regex=replacement` over the archived topic name (e.g. `^old\\.(.*)=new.$1`). Default: the same names. Never yields an internal topic (see FILE_SOURCE_TOPIC_MAP).',
  ),
  FILE_SOURCE_TOPIC_MAP: envVar(
    z
      .string()
      .transform((value, ctx) => {
        const map = new Map<string, string>();
        for (const pair of value
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean)) {
          const [from, to, ...rest] = pair.split('=').map((t) => t.trim());
          if (!from || !to || rest.length > 0 || !/^[A-Za-z0-9._-]+$/.test(from) || !/^[A-Za-z0-9._-]+$/.test(to))
            ctx.addIssue({ code: 'custom', message: `${JSON.stringify(pair)} is not <archived topic>=<target topic>` });
          else map.set(from, to);
        }
        return map;
      })
      .optional(),
    'Explicit `archived=target` topic pairs (comma-separated), applied before FILE_SOURCE_TOPIC_RENAME. The only way to restore into an internal topic (`<prefix>.offsets`, `<prefix>.heartbeats`, `<prefix>.dlq`, or a name starting with `__` such as `__consumer_offsets`): otherwise an archive naming one is refused with ARCHIVE_TOPIC_REFUSED.',
  ),
  ...adminSpec,
};

export type FileSinkConfig = ConfigOf<typeof fileSinkSpec>;
export type FileSourceConfig = ConfigOf<typeof fileSourceSpec>;
