import { envVar, type ConfigOf } from './env.ts';
import { qualifiedTable } from '../core/env-values.ts';
import { mysqlSecuritySpec } from './security.ts';
import { sourceSpec } from './source.ts';

/** `cdc snapshot`: only the source server and its signal table (the request travels through the binlog). */
export const snapshotRequestSpec = {
  LOG_LEVEL: sourceSpec.LOG_LEVEL,
  MYSQL_HOST: sourceSpec.MYSQL_HOST,
  MYSQL_PORT: sourceSpec.MYSQL_PORT,
  MYSQL_USER: sourceSpec.MYSQL_USER,
  MYSQL_PASSWORD: sourceSpec.MYSQL_PASSWORD,
  ...mysqlSecuritySpec,
  SIGNAL_TABLE: envVar(qualifiedTable(), "Signal table `db.table` the source reads (the same value as the source's SIGNAL_TABLE)."),
};

export type SnapshotRequestConfig = ConfigOf<typeof snapshotRequestSpec>;
