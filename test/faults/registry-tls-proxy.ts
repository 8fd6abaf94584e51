import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { stackEnv } from '../helpers/stack.ts';
import { testServerTls, upstreamRequest } from './tls.ts';

/**
 * TLS and basic auth in front of the real registry. Apicurio delegates authentication to an
 * identity server the local stack does not run, so the client's registry TLS and credential
 * settings are tested against this proxy, which forwards every authenticated request unchanged
 * and answers 401 like Confluent's registry otherwise.
 */
export interface RegistryProxy {
  /** The registry's Confluent API through the proxy (https, same path as the real one). */
  url: string;
  /** Requests forwarded upstream (authenticated) and refused (401). */
  forwarded: number;
  refused: number;
  close(): Promise<void>;
}

export async function startRegistryTlsProxy(options: { username: string; password: string; expiredCertificate?: boolean }): Promise<RegistryProxy> {
  const env = stackEnv();
  const target = new URL(env.SCHEMA_REGISTRY_URL);
  const expected = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
  const tls = options.expiredCertificate ? { cert: readFileSync(env.CDC_TLS_EXPIRED_CERT_FILE), key: readFileSync(env.CDC_TLS_EXPIRED_KEY_FILE) } : testServerTls();
  const counts = { forwarded: 0, refused: 0 };
  const server: Server = createServer(tls, (req, res) => {
    if (req.headers.authorization !== expected) {
      counts.refused++;
      res.writeHead(401, { 'content-type': 'application/vnd.schemaregistry.v1+json', 'www-authenticate': 'Basic realm="registry"' });
      res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      req.resume();
      return;
    }
    counts.forwarded++;
    const { authorization: _credentials, ...headers } = req.headers;
    const out = upstreamRequest(target, { method: req.method, path: req.url, headers: { ...headers, host: target.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}${target.pathname}`,
    get forwarded() {
      return counts.forwarded;
    },
    get refused() {
      return counts.refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
