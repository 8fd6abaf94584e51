import net from 'node:net';
import tls from 'node:tls';
import type { CdcError } from './errors.ts';
import { type KafkaSettings, kafkaError } from './kafka.ts';

/** The answer to a broker that handshakes but never speaks: an outage for kafkajs to retry, not a verdict. */
const QUIET_BROKER_MS = 5_000;

/**
 * ApiVersions v0: the smallest request every broker answers, also before any SASL exchange. An
 * answer proves the broker accepted the TLS session, client certificate included (with TLS 1.3 a
 * server refuses the client's certificate only after the client's side of the handshake is done).
 */
function apiVersionsRequest(): Buffer {
  const clientId = Buffer.from('cdc-tls-check');
  const request = Buffer.alloc(4 + 10 + clientId.length);
  request.writeInt32BE(request.length - 4, 0);
  request.writeInt16BE(18, 4); // api key ApiVersions
  request.writeInt16BE(0, 6); // version 0
  request.writeInt32BE(1, 8); // correlation id
  request.writeInt16BE(clientId.length, 12);
  clientId.copy(request, 14);
  return request;
}

/** What one broker said: it answered, it refused the TLS session (the coded error), or nothing certain. */
function checkBroker(broker: string, ssl: tls.ConnectionOptions): Promise<'answered' | CdcError | undefined> {
  const colon = broker.lastIndexOf(':');
  const host = broker.slice(0, colon);
  const port = Number(broker.slice(colon + 1));
  return new Promise((resolve) => {
    // As kafkajs connects: no SNI for an address (Node refuses one, and the broker's certificate names the host either way).
    const socket = tls.connect({ host, port, ...(net.isIP(host) ? {} : { servername: host }), ...ssl });
    const done = (outcome: 'answered' | CdcError | undefined) => {
      socket.destroy();
      resolve(outcome);
    };
    socket.setTimeout(QUIET_BROKER_MS, () => done(undefined));
    socket.once('secureConnect', () => socket.write(apiVersionsRequest()));
    socket.once('data', () => done('answered'));
    socket.once('error', (error) => {
      const coded = kafkaError(error, 'TLS handshake');
      done(coded.code === 'TLS_CERT_INVALID' || coded.code === 'AUTH_FAILED' ? coded : undefined);
    });
    socket.once('close', () => done(undefined));
  });
}

/**
 * Checks the TLS settings against the brokers before kafkajs connects, because kafkajs retries a
 * refused certificate exactly as it retries an outage (about 30 s with its retries) before the
 * service can name the setting to fix. The first broker that answers settles it; a refusal throws
 * its coded error (TLS_CERT_INVALID, or AUTH_FAILED for a refused client certificate); brokers that
 * cannot be reached are left to kafkajs and the service's own retries.
 */
export async function checkKafkaTls(settings: KafkaSettings): Promise<void> {
  if (!settings.ssl) return;
  for (const broker of settings.brokers) {
    const outcome = await checkBroker(broker, settings.ssl);
    if (outcome === 'answered') return;
    if (outcome) throw outcome;
  }
}
