import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Probe } from '../core/probe.ts';
import { statusView, type StatusDetail } from './status-view.ts';

/** The one HTTP server of a service: /healthz, /readyz, /metrics, /status. */
export async function startHttpServer(host: string, port: number, probe: Probe, metrics: MetricsRegistry, statusDetail: StatusDetail = 'summary'): Promise<Server & { port: number }> {
  const server = createServer((request, response) => {
    const send = (status: number, body: string, type = 'application/json') => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') return send(405, JSON.stringify({ error: 'method not allowed' }));
    switch (path) {
      case '/healthz':
        return probe.healthy() ? send(200, '{"status":"ok"}') : send(503, '{"status":"unhealthy"}');
      case '/readyz': {
        const state = probe.ready();
        return send(state.ready ? 200 : 503, JSON.stringify(state));
      }
      case '/status':
        return send(
          200,
          JSON.stringify(statusView(probe.status(), statusDetail), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2),
        );
      case '/metrics':
        metrics
          .metrics()
          .then((text) => send(200, text, metrics.contentType))
          .catch((error: Error) => send(500, JSON.stringify({ error: error.message })));
        return;
      default:
        return send(404, JSON.stringify({ error: 'not found', endpoints: ['/healthz', '/readyz', '/metrics', '/status'] }));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}
