import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { CdcError } from '../core/errors.ts';
import type { SourceResumeState as ResumeState, SourceStoredOffset as StoredOffset } from './offset-store.ts';

const PREFIX = 'sealed:aes-256-gcm:';
/** The fields of a snapshot's `current` table that hold a row's key values. */
const KEY_FIELDS = ['lastKey', 'upTo'] as const;

/**
 * Encrypts the key values that snapshot progress stores in the offsets topic. A snapshot resumes
 * from the last key it read, so that key must be stored, and with COLUMN_HASH on a key column it
 * is the raw value the hash exists to hide. The key tuples (`lastKey`, `upTo` of the table being
 * read) are sealed with AES-256-GCM under a key derived (HKDF-SHA-256) from COLUMN_HASH_SALT,
 * the secret COLUMN_HASH already requires: whoever can read the offsets topic but not the
 * service's secrets learns table names and row counts, not keys. GCM also authenticates them, so
 * a tampered value is refused rather than resumed from.
 */
export class ProgressSeal {
  readonly #key: Buffer;

  private constructor(secret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'cdc-es offsets', 'snapshot progress key values', 32));
  }

  /** A seal when key values need hiding (COLUMN_HASH is set), else undefined: progress is stored as it is. */
  static forHashing(config: { COLUMN_HASH?: unknown; COLUMN_HASH_SALT?: string | undefined }): ProgressSeal | undefined {
    return config.COLUMN_HASH && config.COLUMN_HASH_SALT ? new ProgressSeal(config.COLUMN_HASH_SALT) : undefined;
  }

  /** The state with its key tuples sealed (a new object; the service keeps the open one). */
  seal(state: ResumeState = {}): ResumeState {
    return mapKeys(state, (value) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
      const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
      return `${PREFIX}${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
    });
  }

  /** The stored offset with its key tuples opened. */
  open(stored: StoredOffset): StoredOffset {
    return mapKeys(stored, (value) => {
      if (typeof value !== 'string' || !value.startsWith(PREFIX)) return value;
      const raw = Buffer.from(value.slice(PREFIX.length), 'base64');
      try {
        const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
        decipher.setAuthTag(raw.subarray(12, 28));
        return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as unknown;
      } catch (error) {
        throw unreadable(error);
      }
    });
  }
}

/** A stored offset read without a seal must not hold sealed values: they would be resumed from as keys. */
export function openStored(stored: StoredOffset | undefined, seal: ProgressSeal | undefined): StoredOffset | undefined {
  if (!stored) return stored;
  if (seal) return seal.open(stored);
  mapKeys(stored, (value) => {
    if (typeof value === 'string' && value.startsWith(PREFIX)) throw unreadable(undefined);
    return value;
  });
  return stored;
}

function unreadable(cause: unknown): CdcError {
  return new CdcError('SOURCE_POSITION_INVALID', 'The stored snapshot progress holds sealed key values that cannot be opened with the configured COLUMN_HASH_SALT', {
    cause,
    hint: 'Start with the COLUMN_HASH and COLUMN_HASH_SALT the snapshot began with, or restart the snapshot (cdc offsets reset of the source, or a new SOURCE_ID).',
  });
}

function mapKeys<T extends ResumeState>(state: T, map: (value: unknown) => unknown): T {
  const out: T = { ...state };
  for (const part of ['snapshot', 'incremental'] as const) {
    const current = state[part]?.current as Record<string, unknown> | undefined;
    if (!current) continue;
    const mapped = { ...current };
    for (const field of KEY_FIELDS) if (mapped[field] !== undefined && mapped[field] !== null) mapped[field] = map(mapped[field]);
    (out as ResumeState)[part] = { ...state[part]!, current: mapped } as never;
  }
  return out;
}
