import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import type { AdminToken } from '../config/admin.ts';
import { CdcError, errorMessage, type ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { audited, type AuditEntry, type AuditLog } from '../ops/audit-log.ts';
import { RefusalAudit } from '../ops/refusal-audit.ts';
import { RefusalRateLimit } from './admin-rate-limit.ts';
import { authenticate } from './bearer-auth.ts';

/** One admin operation: a method and path under /admin and the handler that performs it. */
export interface AdminAction {
  method: 'GET' | 'POST';
  path: string;
  description: string;
  /** `input`: the query parameters, and for POST the JSON body's fields. */
  run(input: Record<string, unknown>, who: string): Promise<unknown>;
}

export interface AdminSettings {
  ADMIN_TOKENS: AdminToken[];
  ADMIN_HOST: string;
  ADMIN_PORT: number;
  ADMIN_REFUSED_PER_MINUTE: number;
  ADMIN_TLS_CERT_FILE?: string | undefined;
  ADMIN_TLS_KEY_FILE?: string | undefined;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  ADMIN_UNAUTHENTICATED: 401,
  ADMIN_FORBIDDEN: 403,
  ADMIN_NOT_FOUND: 404,
  ADMIN_RATE_LIMITED: 429,
  ARGUMENT_INVALID: 400,
  GROUP_ACTIVE: 409,
  ACTION_NOT_APPLICABLE: 409,
};
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The admin API on its own listener (HTTPS with ADMIN_TLS_*): bearer tokens, and an audit entry
 * for every call, written before an allowed action runs. Refused calls are audited too, summed per
 * client and window (RefusalAudit), and a client refused too often is rate-limited, so a flood of
 * unauthenticated calls costs neither an fsync per call nor a metric series per path: the metric's
 * `action` label is a route name or `unknown`.
 */
export async function startAdminServer(settings: AdminSettings, actions: AdminAction[], audit: AuditLog, metrics: MetricsRegistry, log: Logger): Promise<Server & { port: number; tls: boolean }> {
  const tls = tlsOptions(settings);
  const calls = new Counter({ name: 'cdc_admin_requests_total', help: 'Admin API calls by action and outcome', labelNames: ['action', 'outcome'], registers: [metrics] });
  const list: AdminAction = {
    method: 'GET',
    path: '/admin/actions',
    description: 'List the admin actions of this service',
    run: async () => actions.map(({ method, path, description }) => ({ method, path, description })),
  };
  const routes = new Map([list, ...actions].map((a) => [`${a.method} ${a.path}`, a]));
  const limit = new RefusalRateLimit(settings.ADMIN_REFUSED_PER_MINUTE);
  const refusals = new RefusalAudit(audit, log);

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://admin');
    const requested = `${request.method} ${url.pathname}`;
    const route = routes.get(requested);
    // Only route names become label values and audit actions: any path a caller sends does not.
    const action = route ? requested : 'unknown';
    const where = route ? {} : { path: url.pathname.slice(0, 200) };
    const remote = request.socket.remoteAddress ?? 'unknown';
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      calls.inc({ action, outcome: status < 400 ? 'ok' : String(status) });
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}), ...headers });
      response.end(JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
    };
    const refuse = (error: CdcError, headers?: Record<string, string>) =>
      send(STATUS_OF[error.code] ?? (error.retriable ? 503 : 500), { error: { code: error.code, message: error.message, hint: error.hint } }, headers);
    const refused = async (outcome: AuditEntry['outcome'], error: CdcError, headers?: Record<string, string>) => {
      if (outcome !== 'rate_limited') limit.refused(remote);
      await refusals.record({ remote, action, outcome, status: STATUS_OF[error.code], ...where });
      refuse(error, headers);
    };
    try {
      const waitMs = limit.retryAfterMs(remote);
      if (waitMs > 0) {
        return await refused(
          'rate_limited',
          new CdcError('ADMIN_RATE_LIMITED', 'Too many refused admin calls from this address', { hint: 'Wait for the Retry-After seconds, then call with a token listed in ADMIN_TOKENS.' }),
          {
            'retry-after': String(Math.ceil(waitMs / 1000)),
          },
        );
      }
      const auth = authenticate(request.headers.authorization, settings.ADMIN_TOKENS);
      if (auth.outcome !== 'ok') {
        return await refused(
          auth.outcome,
          auth.outcome === 'unauthenticated'
            ? new CdcError('ADMIN_UNAUTHENTICATED', 'The admin API needs `Authorization: Bearer <token>`')
            : new CdcError('ADMIN_FORBIDDEN', 'This token is not allowed', { hint: 'Use a token listed in ADMIN_TOKENS.' }),
        );
      }
      if (!route) {
        await audit.record({ who: auth.id, remote, action, outcome: 'not_found', status: 404, ...where });
        return refuse(new CdcError('ADMIN_NOT_FOUND', `No admin action ${requested.slice(0, 200)}`, { hint: 'GET /admin/actions lists them.' }));
      }
      const input = { ...Object.fromEntries(url.searchParams), ...(request.method === 'POST' ? await jsonBody(request) : {}) };
      const result = await audited(audit, { who: auth.id, remote, action, params: input }, () => route.run(input, auth.id));
      send(200, { ok: true, result });
    } catch (error) {
      refuse(error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error }));
    }
  };

  const listener = (request: IncomingMessage, response: ServerResponse) => void handle(request, response);
  const server = tls ? createHttpsServer(tls, listener) : createHttpServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.ADMIN_PORT, settings.ADMIN_HOST, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  if (!tls && !isLoopback(settings.ADMIN_HOST)) {
    log.warn(
      { host: settings.ADMIN_HOST, insecure: true },
      'the admin API listens on a non-loopback address without TLS: bearer tokens cross the network in clear text; set ADMIN_TLS_CERT_FILE and ADMIN_TLS_KEY_FILE, or ADMIN_HOST=127.0.0.1',
    );
  }
  log.info({ port, tls: Boolean(tls), tokens: settings.ADMIN_TOKENS.map((t) => t.id), actions: [...routes.keys()] }, 'admin API listening');
  // Closing writes the summed refusals of the unfinished window (AuditLog.close then waits for them).
  const close = server.close.bind(server);
  return Object.assign(server, {
    port,
    tls: Boolean(tls),
    close: (callback?: (error?: Error) => void) => {
      void refusals.close();
      return close(callback);
    },
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function tlsOptions(settings: AdminSettings): { cert: Buffer; key: Buffer } | undefined {
  const { ADMIN_TLS_CERT_FILE: certFile, ADMIN_TLS_KEY_FILE: keyFile } = settings;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new CdcError('CONFIG_INVALID', 'Set both ADMIN_TLS_CERT_FILE and ADMIN_TLS_KEY_FILE, or neither', { hint: 'See docs/configuration.md.' });
  try {
    return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
  } catch (error) {
    throw new CdcError('CONFIG_INVALID', `Cannot read the admin TLS certificate or key: ${(error as NodeJS.ErrnoException).code ?? errorMessage(error)}`, { cause: error });
  }
}

async function jsonBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of request) {
    text += String(chunk);
    if (text.length > MAX_BODY_BYTES) throw new CdcError('ARGUMENT_INVALID', `The request body exceeds ${MAX_BODY_BYTES} bytes`);
  }
  if (!text.trim()) return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new CdcError('ARGUMENT_INVALID', 'The request body must be a JSON object');
}
