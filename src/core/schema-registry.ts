import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { CdcError, errorMessage } from './errors.ts';
import { avroOptions } from './avro-types.ts';

export interface RegistrySettings {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
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

  constructor(settings: RegistrySettings) {
    this.#settings = settings;
    const auth = settings.username ? { username: settings.username, password: settings.password ?? '' } : undefined;
    this.client = new SchemaRegistry(
      { host: settings.url, ...(auth ? { auth } : {}), retry: { retries: 2, maxRetryTimeInSecs: 2 } },
      { [SchemaType.AVRO]: avroOptions as never },
    );
  }

  /**
   * Registers `schema` under `subject` (cached per process) and returns its global id.
   *
   * The subject's compatibility level is set explicitly before its first registration: a
   * Confluent registry answers 404 for a subject without its own level, Apicurio answers NONE,
   * and the client refuses to register on any level but the one it expects. Setting the level is
   * plain Confluent API and makes all registries behave alike.
   */
  async register(subject: string, schema: object, compatibility: string): Promise<number> {
    const text = JSON.stringify(schema);
    const cacheKey = `${subject}\u0000${text}`;
    const cached = this.#ids.get(cacheKey);
    if (cached !== undefined) return cached;
    try {
      if (!this.#levels.has(subject)) {
        await this.#request('PUT', `/config/${encodeURIComponent(subject)}`, { compatibility });
        this.#levels.add(subject);
      }
      const { id } = await this.client.register({ type: SchemaType.AVRO, schema: text }, { subject, compatibility: compatibility as never });
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
    const response = await fetch(`${this.#settings.url.replace(/\/$/, '')}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (!response.ok) throw Object.assign(new Error(`${method} ${path} answered ${response.status}: ${text.slice(0, 300)}`), { status: response.status });
    return text ? JSON.parse(text) : undefined;
  }
}

/** 409 is an incompatible schema (never retried); 5xx and network failures are retriable. */
export function registryError(error: unknown, what: string): CdcError {
  if (error instanceof CdcError) return error;
  const status = (error as { status?: number }).status;
  const message = errorMessage(error);
  if (status === 409 || /compatib/i.test(message)) {
    return new CdcError('SCHEMA_INCOMPATIBLE', `The schema registry refused the new schema of ${what}: ${message}`, {
      cause: error,
      hint: 'The table changed in a way the subject\'s compatibility level forbids. Revert the change, or relax the level for this subject (PUT /config/<subject>) and restart the source.',
    });
  }
  if (status === 401 || status === 403) {
    return new CdcError('REGISTRY_UNAVAILABLE', `The schema registry refused the credentials for ${what} (HTTP ${status})`, {
      cause: error,
      hint: 'Check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD.',
    });
  }
  return new CdcError('REGISTRY_UNAVAILABLE', `Schema registry request for ${what} failed: ${message}`, {
    cause: error,
    retriable: status === undefined || status >= 500 || status === 429,
    hint: 'Check SCHEMA_REGISTRY_URL and that the registry is up.',
  });
}
