import { z } from 'zod';
import { envVar } from './env.ts';
import { bool, text } from '../core/env-values.ts';

/**
 * TLS and authentication settings of every service we connect to. Certificate verification is on
 * unless a `*_SSL_INSECURE=true` (or MYSQL_SSL_MODE=required) says otherwise, which the services
 * log as a warning at start (insecureSettings). Settings that cannot take effect — SASL
 * credentials on a PLAINTEXT listener, a CA for an http:// URL — are configuration errors, not
 * silently ignored, because an operator who set them expects protection they would not get.
 */

type Config = Record<string, unknown>;

const pemFile = (what: string) => `Path of a PEM file with ${what}.`;

/** A variable that only makes sense when `applies` holds. */
function onlyWhen(applies: (c: Config) => boolean, condition: string, name: string): (c: Config) => string | undefined {
  return (c) => (c[name] !== undefined && c[name] !== false && !applies(c) ? `has no effect unless ${condition}` : undefined);
}

/** A variable that `applies` requires. */
function requiredWhen(applies: (c: Config) => boolean, condition: string, name: string): (c: Config) => string | undefined {
  return (c) => (c[name] === undefined && applies(c) ? `is required when ${condition}` : undefined);
}

function both(...checks: Array<(c: Config) => string | undefined>): (c: Config) => string | undefined {
  return (c) => checks.map((check) => check(c)).find(Boolean);
}

// ----- Kafka ------------------------------------------------------------------------------------

export const KAFKA_SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export const KAFKA_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
const kafkaTls = (c: Config) => String(c.KAFKA_SECURITY_PROTOCOL).endsWith('SSL');
const kafkaSasl = (c: Config) => String(c.KAFKA_SECURITY_PROTOCOL).startsWith('SASL_');
const SASL_PROTOCOL = 'KAFKA_SECURITY_PROTOCOL is SASL_PLAINTEXT or SASL_SSL';
const TLS_PROTOCOL = 'KAFKA_SECURITY_PROTOCOL is SSL or SASL_SSL';

export const kafkaSecuritySpec = {
  KAFKA_SECURITY_PROTOCOL: envVar(
    z.enum(KAFKA_SECURITY_PROTOCOLS).default('PLAINTEXT'),
    "Like Kafka's `security.protocol`: `PLAINTEXT`, `SSL` (TLS), `SASL_PLAINTEXT` or `SASL_SSL` (SASL over TLS).",
    { default: 'PLAINTEXT' },
  ),
  KAFKA_SASL_MECHANISM: envVar(z.enum(KAFKA_SASL_MECHANISMS).optional(), '`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.', {
    check: both(requiredWhen(kafkaSasl, SASL_PROTOCOL, 'KAFKA_SASL_MECHANISM'), onlyWhen(kafkaSasl, SASL_PROTOCOL, 'KAFKA_SASL_MECHANISM')),
  }),
  KAFKA_SASL_USERNAME: envVar(text().optional(), 'SASL user name.', {
    check: both(requiredWhen(kafkaSasl, SASL_PROTOCOL, 'KAFKA_SASL_USERNAME'), onlyWhen(kafkaSasl, SASL_PROTOCOL, 'KAFKA_SASL_USERNAME')),
  }),
  KAFKA_SASL_PASSWORD: envVar(z.string().min(1, 'must not be empty').optional(), 'SASL password.', {
    secret: true,
    check: both(requiredWhen(kafkaSasl, SASL_PROTOCOL, 'KAFKA_SASL_PASSWORD'), onlyWhen(kafkaSasl, SASL_PROTOCOL, 'KAFKA_SASL_PASSWORD')),
  }),
  KAFKA_SSL_CA_FILE: envVar(text().optional(), `${pemFile("the CA certificates that sign the brokers' certificates")} Default: the system's CAs.`, {
    file: true,
    check: onlyWhen(kafkaTls, TLS_PROTOCOL, 'KAFKA_SSL_CA_FILE'),
  }),
  KAFKA_SSL_CERT_FILE: envVar(text().optional(), `${pemFile("this client's certificate")} (brokers with \`ssl.client.auth=required\`).`, {
    file: true,
    check: both(
      onlyWhen(kafkaTls, TLS_PROTOCOL, 'KAFKA_SSL_CERT_FILE'),
      requiredWhen((c) => c.KAFKA_SSL_KEY_FILE !== undefined, 'KAFKA_SSL_KEY_FILE is set', 'KAFKA_SSL_CERT_FILE'),
    ),
  }),
  KAFKA_SSL_KEY_FILE: envVar(text().optional(), pemFile('the private key of KAFKA_SSL_CERT_FILE'), {
    file: true,
    check: requiredWhen((c) => c.KAFKA_SSL_CERT_FILE !== undefined, 'KAFKA_SSL_CERT_FILE is set', 'KAFKA_SSL_KEY_FILE'),
  }),
  KAFKA_SSL_INSECURE: envVar(bool().default(false), "`true` turns off verification of the brokers' certificates (logged as a warning at start). For tests only.", {
    default: 'false',
    check: onlyWhen(kafkaTls, TLS_PROTOCOL, 'KAFKA_SSL_INSECURE'),
  }),
};

// ----- Schema registry ----------------------------------------------------------------------------

const registryHttps = (c: Config) => String(c.SCHEMA_REGISTRY_URL).startsWith('https:');

export const registrySecuritySpec = {
  SCHEMA_REGISTRY_USERNAME: envVar(text().optional(), 'Basic-auth user for the registry.', {
    check: requiredWhen((c) => c.SCHEMA_REGISTRY_PASSWORD !== undefined, 'SCHEMA_REGISTRY_PASSWORD is set', 'SCHEMA_REGISTRY_USERNAME'),
  }),
  SCHEMA_REGISTRY_PASSWORD: envVar(text().optional(), 'Basic-auth password for the registry.', {
    secret: true,
    check: requiredWhen((c) => c.SCHEMA_REGISTRY_USERNAME !== undefined, 'SCHEMA_REGISTRY_USERNAME is set', 'SCHEMA_REGISTRY_PASSWORD'),
  }),
  SCHEMA_REGISTRY_SSL_CA_FILE: envVar(text().optional(), `${pemFile("the CA certificates that sign the registry's certificate")} Default: the system's CAs.`, {
    file: true,
    check: onlyWhen(registryHttps, 'SCHEMA_REGISTRY_URL is https://', 'SCHEMA_REGISTRY_SSL_CA_FILE'),
  }),
  SCHEMA_REGISTRY_SSL_INSECURE: envVar(bool().default(false), "`true` turns off verification of the registry's certificate (logged as a warning at start). For tests only.", {
    default: 'false',
    check: onlyWhen(registryHttps, 'SCHEMA_REGISTRY_URL is https://', 'SCHEMA_REGISTRY_SSL_INSECURE'),
  }),
};

// ----- MySQL / MariaDB ----------------------------------------------------------------------------

export const MYSQL_SSL_MODES = ['disabled', 'required', 'verify_ca', 'verify_identity'] as const;
const mysqlTls = (c: Config) => c.MYSQL_SSL_MODE !== 'disabled';
const MYSQL_TLS = 'MYSQL_SSL_MODE is required, verify_ca or verify_identity';

export const mysqlSecuritySpec = {
  MYSQL_SSL_MODE: envVar(
    z.enum(MYSQL_SSL_MODES).default('disabled'),
    "Debezium's names: `disabled`; `required` (encrypted, certificate not verified: logged as a warning); `verify_ca` (signed by MYSQL_SSL_CA_FILE or a system CA); `verify_identity` (also matches MYSQL_HOST). Applies to the binlog connection and every query.",
    { default: 'disabled' },
  ),
  MYSQL_SSL_CA_FILE: envVar(text().optional(), `${pemFile("the CA certificates that sign the server's certificate")} Default: the system's CAs.`, {
    file: true,
    check: onlyWhen(mysqlTls, MYSQL_TLS, 'MYSQL_SSL_CA_FILE'),
  }),
  MYSQL_SSL_CERT_FILE: envVar(text().optional(), `${pemFile("this client's certificate")} (users created \`REQUIRE X509\`).`, {
    file: true,
    check: both(
      onlyWhen(mysqlTls, MYSQL_TLS, 'MYSQL_SSL_CERT_FILE'),
      requiredWhen((c) => c.MYSQL_SSL_KEY_FILE !== undefined, 'MYSQL_SSL_KEY_FILE is set', 'MYSQL_SSL_CERT_FILE'),
    ),
  }),
  MYSQL_SSL_KEY_FILE: envVar(text().optional(), pemFile('the private key of MYSQL_SSL_CERT_FILE'), {
    file: true,
    check: requiredWhen((c) => c.MYSQL_SSL_CERT_FILE !== undefined, 'MYSQL_SSL_CERT_FILE is set', 'MYSQL_SSL_KEY_FILE'),
  }),
};

// ----- Elasticsearch ------------------------------------------------------------------------------

const esHttps = (c: Config) => String(c.ELASTICSEARCH_URL).startsWith('https:');

export const elasticsearchSecuritySpec = {
  ELASTICSEARCH_USERNAME: envVar(text().optional(), 'Basic-auth user for Elasticsearch.', {
    check: both(
      requiredWhen((c) => c.ELASTICSEARCH_PASSWORD !== undefined, 'ELASTICSEARCH_PASSWORD is set', 'ELASTICSEARCH_USERNAME'),
      (c) => (c.ELASTICSEARCH_USERNAME !== undefined && c.ELASTICSEARCH_API_KEY !== undefined ? 'set either basic auth or ELASTICSEARCH_API_KEY, not both' : undefined),
    ),
  }),
  ELASTICSEARCH_PASSWORD: envVar(text().optional(), 'Basic-auth password for Elasticsearch.', {
    secret: true,
    check: requiredWhen((c) => c.ELASTICSEARCH_USERNAME !== undefined, 'ELASTICSEARCH_USERNAME is set', 'ELASTICSEARCH_PASSWORD'),
  }),
  ELASTICSEARCH_API_KEY: envVar(text().optional(), 'Elasticsearch API key (the base64 `encoded` value of the create-API-key answer), instead of basic auth.', { secret: true }),
  ELASTICSEARCH_SSL_CA_FILE: envVar(text().optional(), `${pemFile("the CA certificates that sign Elasticsearch's HTTP certificate")} Default: the system's CAs.`, {
    file: true,
    check: onlyWhen(esHttps, 'ELASTICSEARCH_URL is https://', 'ELASTICSEARCH_SSL_CA_FILE'),
  }),
  ELASTICSEARCH_SSL_INSECURE: envVar(bool().default(false), "`true` turns off verification of Elasticsearch's certificate (logged as a warning at start). For tests only.", {
    default: 'false',
    check: onlyWhen(esHttps, 'ELASTICSEARCH_URL is https://', 'ELASTICSEARCH_SSL_INSECURE'),
  }),
};

/** One warning per setting that turns certificate verification off, for the start-up log. */
export function insecureSettings(config: Config): string[] {
  const warnings: string[] = [];
  for (const [name, service] of [
    ['KAFKA_SSL_INSECURE', "the Kafka brokers'"],
    ['SCHEMA_REGISTRY_SSL_INSECURE', "the schema registry's"],
    ['ELASTICSEARCH_SSL_INSECURE', "Elasticsearch's"],
  ] as const) {
    if (config[name] === true) warnings.push(`${name}=true: ${service} certificates are not verified; anyone on the network path can read and change the traffic`);
  }
  if (config.MYSQL_SSL_MODE === 'required')
    warnings.push('MYSQL_SSL_MODE=required: the connection to MySQL/MariaDB is encrypted but its certificate is not verified; use verify_ca or verify_identity');
  return warnings;
}
