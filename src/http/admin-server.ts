import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import type { AdminToken } from '../config/admin.ts';
import { CdcError, errorMessage, type ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { audited, type AuditLog } from '../ops/audit-log.ts';
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
  ADMIN_TLS_CERT_FILE?: string | undefined;
  ADMIN_TLS_KEY_FILE?: string | undefined;
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  ADMIN_UNAUTHENTICATED: 401,
  ADMIN_FORBIDDEN: 403,
  ADMIN_NOT_FOUND: 404,
  ARGUMENT_INVALID: 400,
  GROUP_ACTIVE: 409,
  ACTION_NOT_APPLICABLE: 409,
};
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The admin API on its own listener (HTTPS with ADMIN_TLS_*): bearer tokens, and an audit entry
 * for every call, refused ones included, written before an allowed action runs.
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

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://admin');
    const action = `${request.method} ${url.pathname}`;
    const remote = request.socket.remoteAddress;
    const send = (status: number, body: unknown) => {
      calls.inc({ action, outcome: status < 400 ? 'ok' : String(status) });
      response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) });
      response.end(JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2));
    };
    const refuse = (error: CdcError) => send(STATUS_OF[error.code] ?? (error.retriable ? 503 : 500), { error: { code: error.code, message: error.message, hint: error.hint } });
    try {
      const auth = authenticate(request.headers.authorization, settings.ADMIN_TOKENS);
      if (auth.outcome !== 'ok') {
        await audit.record({ who: null, remote, action, outcome: auth.outcome, status: auth.outcome === 'unauthenticated' ? 401 : 403 });
        return refuse(
          auth.outcome === 'unauthenticated'
            ? new CdcError('ADMIN_UNAUTHENTICATED', 'The admin API needs `Authorization: Bearer <token>`')
            : new CdcError('ADMIN_FORBIDDEN', 'This token is not allowed', { hint: 'Use a token listed in ADMIN_TOKENS.' }),
        );
      }
      const route = routes.get(action);
      if (!route) {
        await audit.record({ who: auth.id, remote, action, outcome: 'not_found', status: 404 });
        return refuse(new CdcError('ADMIN_NOT_FOUND', `No admin action ${action}`, { hint: 'GET /admin/actions lists them.' }));
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
  log.info({ port, tls: Boolean(tls), tokens: settings.ADMIN_TOKENS.map((t) => t.id), actions: [...routes.keys()] }, 'admin API listening');
  return Object.assign(server, { port, tls: Boolean(tls) });
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
