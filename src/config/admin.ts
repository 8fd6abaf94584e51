import { z } from 'zod';
import { envVar } from './env.ts';
import { int, text } from '../core/env-values.ts';

export interface AdminToken {
  /** Named in the audit log; the token itself never is. */
  id: string;
  token: string;
}

/** `id:token` pairs, separated by commas or new lines (one per line reads well in a secret file). */
const tokenList = () =>
  z.string().transform((value, ctx) => {
    const tokens: AdminToken[] = [];
    for (const entry of value
      .split(/[,\n]/)
      .map((e) => e.trim())
      .filter(Boolean)) {
      const colon = entry.indexOf(':');
      const id = entry.slice(0, colon);
      const token = entry.slice(colon + 1);
      // The messages never quote the entry: it holds the token.
      if (colon <= 0 || !/^[A-Za-z0-9._-]+$/.test(id)) ctx.addIssue({ code: 'custom', message: `entry ${tokens.length + 1} is not <id>:<token> with an id of letters, digits, ., _ or -` });
      else if (token.length < 16) ctx.addIssue({ code: 'custom', message: `the token of ${id} is shorter than 16 characters` });
      else if (tokens.some((t) => t.id === id)) ctx.addIssue({ code: 'custom', message: `token id ${id} appears twice` });
      else tokens.push({ id, token });
    }
    if (tokens.length === 0) ctx.addIssue({ code: 'custom', message: 'lists no token' });
    return tokens;
  });

/** Where admin calls, replays and offset resets are recorded. */
export const auditSpec = {
  AUDIT_LOG_FILE: envVar(
    text().optional(),
    "JSON-lines file (appended, fsync'd per entry) that records every admin API call and every replay and offset reset. Refused admin calls are recorded summed: the first of each client, action and outcome at once, the rest of its 10-second window as one entry with a `count`. Entries also go to the service log.",
  ),
  AUDIT_TOPIC: envVar(
    text()
      .regex(/^[A-Za-z0-9._-]+$/, 'must be a valid Kafka topic name')
      .optional(),
    'Kafka topic that also receives every audit entry (created with one partition when missing).',
  ),
};

/** The admin API: off unless ADMIN_TOKENS is set. */
export const adminSpec = {
  ADMIN_TOKENS: envVar(
    tokenList().optional(),
    'Enables the admin API: `id:token` pairs (comma- or newline-separated, tokens ≥ 16 characters). Calls authenticate with `Authorization: Bearer <token>`; the audit log names the id.',
    { secret: true },
  ),
  ADMIN_HOST: envVar(text().default('0.0.0.0'), 'Address of the admin API listener; a non-loopback address without ADMIN_TLS_* is warned about at start.', { default: '0.0.0.0' }),
  ADMIN_PORT: envVar(int(0, 65535).default(8081), 'Port of the admin API, its own listener so it can use TLS and another network exposure than health and metrics (0 picks a free port).', {
    default: '8081',
  }),
  ADMIN_REFUSED_PER_MINUTE: envVar(
    int(1, 100_000).default(30),
    'Refused admin calls (no or wrong token) allowed per client address and minute; beyond it the address gets 429 without its token being checked until the minute is over. Refusals are audited summed per client and 10-second window.',
    { default: '30' },
  ),
  ADMIN_TLS_CERT_FILE: envVar(text().optional(), 'PEM certificate (chain) of the admin API; with ADMIN_TLS_KEY_FILE it serves HTTPS.'),
  ADMIN_TLS_KEY_FILE: envVar(text().optional(), 'PEM private key of the admin API certificate.'),
  ...auditSpec,
};
