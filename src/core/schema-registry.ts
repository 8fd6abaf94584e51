import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type { Type } from 'avsc';
import { CdcError, errorMessage } from './errors.ts';
import { avroOptions } from './avro-types.ts';
import { authError, certificateError, tlsOptions } from './tls.ts';

export interface RegistrySettings {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
  caFile?: string | undefined;
  insecure?: boolean | undefined;
}

interface RegistryConfig {
  SCHEMA_REGISTRY_URL?: string | undefined;
  SCHEMA_REGISTRY_USERNAME?: string | undefined;
  SCHEMA_REGISTRY_PASSWORD?: string | undefined;
  SCHEMA_REGISTRY_SSL_CA_FILE?: string | undefined;
  SCHEMA_REGISTRY_SSL_INSECURE: boolean;
}

/** The registry client, or undefined without SCHEMA_REGISTRY_URL (self-describing JSON records need none). */
export function optionalRegistry(config: RegistryConfig): Registry | undefined {
  const url = config.SCHEMA_REGISTRY_URL;
  return url === undefined ? undefined : new Registry(registrySettings({ ...config, SCHEMA_REGISTRY_URL: url }));
}

export function registrySettings(config: RegistryConfig & { SCHEMA_REGISTRY_URL: string }): RegistrySettings {
  return {
    url: config.SCHEMA_REGISTRY_URL,
    username: config.SCHEMA_REGISTRY_USERNAME,
    password: config.SCHEMA_REGISTRY_PASSWORD,
    caFile: config.SCHEMA_REGISTRY_SSL_CA_FILE,
    insecure: config.SCHEMA_REGISTRY_SSL_INSECURE,
  };
}

/**
 * The Confluent-API registry client both services share. Only the Confluent REST API and wire
 * format are used, so it works the same against Confluent, Karapace and Apicurio (ccompat).
 */
export class Registry {
  readonly client: SchemaRegistry;
  readonly #settings: RegistrySettings;
  readonly #ids = new Map<string, number>();
  readonly #levels = new Set<string>();
  readonly #types = new Map<number, Promise<Type>>();

  readonly #agent: HttpAgent | HttpsAgent;

  constructor(settings: RegistrySettings) {
    this.#settings = settings;
    // One keep-alive agent for the client and our own requests; over https it carries the CA.
    this.#agent = settings.url.startsWith('https:') ? new HttpsAgent({ keepAlive: true, ...tlsOptions({ caFile: settings.caFile, insecure: settings.insecure }) }) : new HttpAgent({ keepAlive: true });
    const auth = settings.username ? { username: settings.username, password: settings.password ?? '' } : undefined;
    this.client = new SchemaRegistry({ host: settings.url, ...(auth ? { auth } : {}), agent: this.#agent, retry: { retries: 2, maxRetryTimeInSecs: 2 } }, { [SchemaType.AVRO]: avroOptions as never });
  }

  /**
   * Registers `schema` under `subject` (cached per process) and returns its global id.
   *
   * A new subject gets `compatibility` as its own level before its first version: a Confluent
   * registry answers 404 for a subject without a level, Apicurio answers NONE, so setting it
   * makes all registries behave alike. An existing subject keeps whatever level it has: the
   * operator may have relaxed it to let an incompatible change through, and a restart must not
   * undo that.
   */
  async register(subject: string, schema: object, compatibility: string): Promise<number> {
    const text = JSON.stringify(schema);
    const cacheKey = `${subject}\u0000${text}`;
    const cached = this.#ids.get(cacheKey);
    if (cached !== undefined) return cached;
    const path = `/subjects/${encodeURIComponent(subject)}/versions`;
    try {
      if (!this.#levels.has(subject)) {
        const versions = await this.#request('GET', path).catch((error: unknown) => {
          if ((error as { status?: number }).status === 404) return [];
          throw error;
        });
        if (!Array.isArray(versions) || versions.length === 0) await this.#request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility });
        this.#levels.add(subject);
      }
      const { id } = (await this.#request('POST', path, { schema: text })) as { id: number };
      this.#ids.set(cacheKey, id);
      return id;
    } catch (error) {
      throw registryError(error, subject);
    }
  }

  /** The schema text exactly as registered under `id` (with every attribute, e.g. decimal precision). */
  async schemaText(id: number): Promise<string> {
    try {
      return ((await this.#request('GET', `/schemas/ids/${id}`)) as { schema: string }).schema;
    } catch (error) {
      throw registryError(error, `schema id ${id}`);
    }
  }

  /** The newest schema registered under `subject`, or undefined when it has none. */
  async latest(subject: string): Promise<Record<string, unknown> | undefined> {
    try {
      const { schema } = (await this.#request('GET', `/subjects/${encodeURIComponent(subject)}/versions/latest`)) as { schema: string };
      return JSON.parse(schema) as Record<string, unknown>;
    } catch (error) {
      if ((error as { status?: number }).status === 404) return undefined;
      throw registryError(error, subject);
    }
  }

  /**
   * The avsc type of schema `id`, fetched once per process (ids are immutable): with it, records
   * are encoded and decoded synchronously (core/avro-wire.ts). A failed fetch is not cached.
   */
  avroType(id: number): Promise<Type> {
    let type = this.#types.get(id);
    if (!type) {
      type = this.client.getSchema(id).then(
        (schema) => schema as unknown as Type,
        (error: unknown) => {
          this.#types.delete(id);
          throw registryError(error, `schema id ${id}`);
        },
      );
      this.#types.set(id, type);
    }
    return type;
  }

  async encode(id: number, value: unknown): Promise<Buffer> {
    try {
      return await this.client.encode(id, value);
    } catch (error) {
      throw registryError(error, `schema id ${id}`);
    }
  }

  async #request(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/vnd.schemaregistry.v1+json' };
    if (this.#settings.username) {
      headers.authorization = `Basic ${Buffer.from(`${this.#settings.username}:${this.#settings.password ?? ''}`).toString('base64')}`;
    }
    const url = new URL(`${this.#settings.url.replace(/\/$/, '')}${path}`);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(url, { method, headers, agent: this.#agent, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
    if (status < 200 || status >= 300) throw Object.assign(new Error(`${method} ${path} answered ${status}: ${text.slice(0, 300)}`), { status });
    return text ? JSON.parse(text) : undefined;
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** TLS_CERT_INVALID or AUTH_FAILED when that is why a registry request failed. */
export function registrySecurityError(error: unknown): CdcError | undefined {
  const status = (error as { status?: number }).status;
  if (status === 401 || status === 403) return authError(error, 'The schema registry', 'SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD');
  return certificateError(error, 'The schema registry', 'SCHEMA_REGISTRY_SSL_CA_FILE');
}

/** 409 is an incompatible schema (never retried); 5xx and network failures are retriable. */
export function registryError(error: unknown, what: string): CdcError {
  if (error instanceof CdcError) return error;
  const status = (error as { status?: number }).status;
  const message = errorMessage(error);
  if (status === 409 || /compatib/i.test(message)) {
    return new CdcError('SCHEMA_INCOMPATIBLE', `The schema registry refused the new schema of ${what}: ${message}`, {
      cause: error,
      hint: 'The table changed in a way the subject\'s compatibility level forbids. The source holds its position and retries (SCHEMA_RETRY_INTERVAL_MS): relax the level of this subject (PUT /config/<subject> {"compatibility":"NONE"}), or revert the change; see docs/schema-evolution.md.',
    });
  }
  const security = registrySecurityError(error);
  if (security) return security;
  return new CdcError('REGISTRY_UNAVAILABLE', `Schema registry request for ${what} failed: ${message}`, {
    cause: error,
    retriable: status === undefined || status >= 500 || status === 429 || isNetworkFailure(status, message),
    hint: 'Check SCHEMA_REGISTRY_URL and that the registry is up.',
  });
}

/**
 * The registry client (mappersmith) answers a request that never reached the registry (refused,
 * reset, timed out) as a status 400 and keeps only the socket error's text: its errno is what
 * tells it from a real 400. Found by the fault run: during a registry restart the sink
 * dead-lettered thousands of good records as undecodable instead of holding them.
 */
function isNetworkFailure(status: number | undefined, message: string): boolean {
  return status === 400 && /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND|EPIPE)\b|socket hang up/.test(message);
}
