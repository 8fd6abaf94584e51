import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface StackEnv {
  MYSQL_HOST: string;
  MYSQL_PORT: string;
  MYSQL_USER: string;
  MYSQL_PASSWORD: string;
  MYSQL_ROOT_PASSWORD: string;
  KAFKA_BROKERS: string;
  SCHEMA_REGISTRY_URL: string;
  /** https, with a superuser of the file realm and the stack's CA. */
  ELASTICSEARCH_URL: string;
  ELASTICSEARCH_USERNAME: string;
  ELASTICSEARCH_PASSWORD: string;
  ELASTICSEARCH_SSL_CA_FILE: string;
  /** The HTTP certificate files Elasticsearch serves (it reloads them when they change). */
  CDC_ES_HTTP_CERT_FILE: string;
  CDC_ES_HTTP_KEY_FILE: string;
  CDC_STACK_DIR: string;
  /** The CA that signed every service's certificate, and one that signed none of them. */
  CDC_TLS_CA_FILE: string;
  CDC_TLS_OTHER_CA_FILE: string;
  /** A certificate of that CA for 127.0.0.1/localhost, and its key: test-only TLS servers use it. */
  CDC_TLS_SERVER_CERT_FILE: string;
  CDC_TLS_SERVER_KEY_FILE: string;
  /** The broker's secured listeners; EXPIRED is SSL with an expired certificate. */
  CDC_KAFKA_SSL_BROKERS: string;
  CDC_KAFKA_SASL_BROKERS: string;
  CDC_KAFKA_SASL_SSL_BROKERS: string;
  CDC_KAFKA_EXPIRED_BROKERS: string;
  /** A MariaDB user created REQUIRE SSL, and the certificate files MariaDB serves (FLUSH SSL reloads them). */
  CDC_MYSQL_TLS_USER: string;
  CDC_MYSQL_TLS_PASSWORD: string;
  CDC_MYSQL_CERT_FILE: string;
  CDC_MYSQL_KEY_FILE: string;
  CDC_TLS_EXPIRED_CERT_FILE: string;
  CDC_TLS_EXPIRED_KEY_FILE: string;
  /** An SSL listener that requires a client certificate of the stack's CA (mutual TLS). */
  CDC_KAFKA_MTLS_BROKERS: string;
  /** A client certificate of the stack's CA and one of the other CA (subject /O=cdc-stack/CN=cdc-client). */
  CDC_TLS_CLIENT_CERT_FILE: string;
  CDC_TLS_CLIENT_KEY_FILE: string;
  CDC_TLS_OTHER_CLIENT_CERT_FILE: string;
  CDC_TLS_OTHER_CLIENT_KEY_FILE: string;
  /** A MariaDB user without password created REQUIRE SUBJECT (that client certificate's) AND ISSUER. */
  CDC_MYSQL_X509_USER: string;
  CDC_KAFKA_PLAIN_USER: string;
  CDC_KAFKA_PLAIN_PASSWORD: string;
  CDC_KAFKA_SCRAM_USER: string;
  CDC_KAFKA_SCRAM_PASSWORD: string;
  /** The broker's jars: Kafka's own tools (DumpLogSegments, …) run from them. */
  CDC_KAFKA_LIBS: string;
}

let cached: StackEnv | undefined;

/** Connection settings of the local stack (started once per test run by `make test`). */
export function stackEnv(): StackEnv {
  if (cached) return cached;
  const out = execFileSync('bash', [`${repoRoot}scripts/stack`, 'env'], { encoding: 'utf8' });
  const env: Record<string, string> = {};
  for (const match of out.matchAll(/([A-Z][A-Z0-9_]*)=("[^"]*"|'[^']*'|\S+)/g)) env[match[1]!] = match[2]!.replace(/^["']|["']$/g, '');
  cached = env as unknown as StackEnv;
  return cached;
}

/** Runs `scripts/stack <args>` (e.g. `stop elasticsearch`) and returns its output. */
export function stack(...args: string[]): string {
  return execFileSync('bash', [`${repoRoot}scripts/stack`, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `stack` without blocking the event loop: services' output and a workload go on while a service stops or starts. */
export function stackAsync(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('bash', [`${repoRoot}scripts/stack`, ...args], { encoding: 'utf8' }, (error, stdout, stderr) =>
      error ? reject(new Error(`scripts/stack ${args.join(' ')} failed: ${stderr || error.message}`)) : resolve(stdout),
    ),
  );
}

/** Pid file of a stack service (Elasticsearch writes its own). */
function pidFileOf(name: 'mariadb' | 'kafka' | 'elasticsearch'): string {
  const root = stackEnv().CDC_STACK_DIR;
  return name === 'elasticsearch' ? `${root}/elasticsearch/run/elasticsearch.pid` : `${root}/run/${name}.pid`;
}

/**
 * Sends `signal` to one of this stack's servers (its pid file is under the stack's runtime root):
 * SIGSTOP leaves every connection open but silent, as a hung server or a partition does; SIGCONT ends that;
 * SIGKILL crashes it (`stack start NAME` brings it back).
 */
export function signalService(name: 'mariadb' | 'kafka' | 'elasticsearch', signal: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void {
  process.kill(Number(readFileSync(pidFileOf(name), 'utf8').trim()), signal);
}

export function signalMariadb(signal: 'SIGSTOP' | 'SIGCONT'): void {
  signalService('mariadb', signal);
}
