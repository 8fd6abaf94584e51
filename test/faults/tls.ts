import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { stackEnv } from '../helpers/stack.ts';

/** Key and certificate (signed by the stack's CA, for 127.0.0.1 and localhost) of a test-only HTTPS server. */
export function testServerTls(): { cert: Buffer; key: Buffer } {
  const env = stackEnv();
  return { cert: readFileSync(env.CDC_TLS_SERVER_CERT_FILE), key: readFileSync(env.CDC_TLS_SERVER_KEY_FILE) };
}

let upstreamAgent: Agent | undefined;

/** A request to a proxy's upstream, over https with the stack's CA when the upstream is https. */
export function upstreamRequest(upstream: URL, options: RequestOptions, onResponse: (res: IncomingMessage) => void): ClientRequest {
  const target = { host: upstream.hostname, port: upstream.port, ...options };
  if (upstream.protocol !== 'https:') return httpRequest(target, onResponse);
  upstreamAgent ??= new Agent({ ca: readFileSync(stackEnv().CDC_TLS_CA_FILE), keepAlive: true });
  return httpsRequest({ ...target, agent: upstreamAgent }, onResponse);
}
