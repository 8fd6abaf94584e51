import { createHash, timingSafeEqual } from 'node:crypto';
import type { AdminToken } from '../config/admin.ts';

export type Authentication = { outcome: 'ok'; id: string } | { outcome: 'unauthenticated' } | { outcome: 'forbidden' };

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * Checks an `Authorization: Bearer <token>` header against every configured token. Comparing
 * equal-length SHA-256 digests with timingSafeEqual, and always comparing against all tokens,
 * keeps the time independent of how much of a token matched and of which one did.
 */
export function authenticate(header: string | undefined, tokens: AdminToken[]): Authentication {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return { outcome: 'unauthenticated' };
  const presented = digest(match[1]!);
  let found: string | undefined;
  for (const { id, token } of tokens) {
    if (timingSafeEqual(presented, digest(token)) && found === undefined) found = id;
  }
  return found === undefined ? { outcome: 'forbidden' } : { outcome: 'ok', id: found };
}
