import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { Schema, Type } from 'avsc';
import { avroType } from './avro-types.ts';
import { registryError, registryFailure } from './registry-errors.ts';
import { tlsOptions } from './tls.ts';

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
  readonly #settings: RegistrySettings;
  readonly #ids = new Map<string, number>();
  readonly #levels = new Set<string>();
  readonly #types = new Map<number, Promise<Type>>();

  readonly #agent: HttpAgent | HttpsAgent;

  constructor(settings: RegistrySettings) {
    this.#settings = settings;
    // One keep-alive agent for every request; over https it carries the CA.
    this.#agent = settings.url.startsWith('https:') ? new HttpsAgent({ keepAlive: true, ...tlsOptions({ caFile: settings.caFile, insecure: settings.insecure }) }) : new HttpAgent({ keepAlive: true });
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
          if (registryFailure(error) === 'not-found') return [];
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
      if (registryFailure(error) === 'not-found') return undefined;
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
      // Our own request (as every request here): the registry library reports a refused connection
      // as HTTP 400, which would read as a request the registry refused for good, and retries by itself.
      type = this.schemaText(id).then(
        (text) => avroType(JSON.parse(text) as Schema),
        (error: unknown) => {
          this.#types.delete(id);
          throw error;
        },
      );
      this.#types.set(id, type);
    }
    return type;
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
    if (status < 200 || status >= 300) throw Object.assign(new Error(`${method} ${path} answered ${status}: ${text.slice(0, 300)}`), { status, errorCode: confluentErrorCode(text) });
    return text ? JSON.parse(text) : undefined;
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** The Confluent API's `error_code` of an error answer, when the body is the API's JSON. */
function confluentErrorCode(text: string): number | undefined {
  try {
    const code = (JSON.parse(text) as { error_code?: unknown }).error_code;
    return typeof code === 'number' ? code : undefined;
  } catch {
    return undefined;
  }
}
