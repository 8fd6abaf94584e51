import type { TlsOptions } from './tls.ts';

/** How every MySQL/MariaDB connection of the source connects (mysql2's options; zongji passes them on). */
export interface MysqlConnectionOptions {
  host: string;
  port: number;
  user: string;
  password?: string | undefined;
  /** mysql2's TLS options (see mysql-connection.ts). */
  ssl?: (TlsOptions & { verifyIdentity: boolean }) | undefined;
}
