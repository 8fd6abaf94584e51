import { exactJson, parseExactJson } from '../../src/core/exact-json.ts';
import assert from 'node:assert/strict';
import type mysql from 'mysql2/promise';
import { dumpIndex, type IndexedDoc } from './elasticsearch.ts';
import { rows } from './mysql.ts';

/**
 * Two tables used by the end-to-end suites: `customers` (one-column key, a spread of types) and
 * `order_lines` (composite key). `expected*` state what each row must look like in Elasticsearch,
 * written out here independently of the product's own conversions.
 */
export const DDL = `
CREATE TABLE customers (
  id BIGINT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  balance DECIMAL(14,4),
  big BIGINT UNSIGNED,
  born DATE,
  updated DATETIME(6),
  seen TIMESTAMP(3) NULL DEFAULT NULL,
  tier ENUM('free','pro','team'),
  notes JSON,
  qty INT
);
CREATE TABLE order_lines (
  order_id INT NOT NULL,
  line_no SMALLINT NOT NULL,
  sku VARCHAR(20) NOT NULL,
  amount DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (order_id, line_no)
);`;

const text = (v: unknown) => (v === null || v === undefined ? null : String(v));

export function expectedCustomer(row: Record<string, unknown>): Record<string, string | null> {
  return {
    id: text(row.id),
    name: text(row.name),
    balance: text(row.balance),
    big: text(row.big),
    born: text(row.born),
    updated: row.updated === null ? null : `${String(row.updated).replace(' ', 'T')}`,
    seen: row.seen === null ? null : `${String(row.seen).replace(' ', 'T')}000Z`,
    tier: text(row.tier),
    // A JSON column: the document holds the value itself (MariaDB's JSON is captured as JSON).
    notes: row.notes === null ? null : valueText(parseExactJson(String(row.notes))),
    qty: text(row.qty),
  };
}

export function expectedOrderLine(row: Record<string, unknown>): Record<string, string | null> {
  return { order_id: text(row.order_id), line_no: text(row.line_no), sku: text(row.sku), amount: text(row.amount) };
}

/** A document's `_source` with every value as text, for comparison with expected* above. */
export function docAsText(source: Record<string, unknown>): Record<string, string | null> {
  return Object.fromEntries(Object.entries(source).map(([k, v]) => [k, v === null ? null : valueText(v)]));
}

/** Objects and arrays as exact JSON (integers beyond 2^53 included), scalars as their text. */
const valueText = (v: unknown): string => (typeof v === 'object' && v !== null ? exactJson(v) : String(v));

export interface TableCheck {
  table: string;
  index: string;
  idOf: (row: Record<string, unknown>) => string;
  expected: (row: Record<string, unknown>) => Record<string, string | null>;
}

export function demoChecks(indexOf: (table: string) => string): TableCheck[] {
  return [
    { table: 'customers', index: indexOf('customers'), idOf: (r) => String(r.id), expected: expectedCustomer },
    { table: 'order_lines', index: indexOf('order_lines'), idOf: (r) => JSON.stringify([String(r.order_id), String(r.line_no)]), expected: expectedOrderLine },
  ];
}

/** Differences between the table and its index, row by row; empty when they are equal. */
export async function differences(conn: mysql.Connection, check: TableCheck): Promise<string[]> {
  const dbRows = await rows(conn, `SELECT * FROM ${check.table}`);
  const docs = await dumpIndex(check.index);
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const row of dbRows) {
    const id = check.idOf(row);
    seen.add(id);
    const doc = docs.get(id);
    if (!doc) {
      problems.push(`${check.table} ${id}: missing in ${check.index}`);
      continue;
    }
    try {
      assert.deepEqual(docAsText(doc.source), check.expected(row));
    } catch {
      problems.push(`${check.table} ${id}: ${JSON.stringify(docAsText(doc.source))} != ${JSON.stringify(check.expected(row))}`);
    }
  }
  for (const id of docs.keys()) if (!seen.has(id)) problems.push(`${check.table} ${id}: in ${check.index} but not in the table (resurrected or never deleted)`);
  return problems;
}

export async function dumpAll(checks: TableCheck[]): Promise<Map<string, Map<string, IndexedDoc>>> {
  return new Map(await Promise.all(checks.map(async (c) => [c.index, await dumpIndex(c.index)] as const)));
}

/** A deterministic mixed workload: inserts, updates, deletes, multi-row and multi-table transactions. */
export async function runWorkload(conn: mysql.Connection, from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i++) {
    const big = (18446744073709551615n - BigInt(i)).toString();
    await conn.query(`INSERT INTO customers VALUES (?, ?, ?, ?, '2024-02-29', '2024-01-02 03:04:05.123456', '2024-03-31 01:30:00.125', 'free', '{"n": 12345678901234567890, "emoji": "🎉"}', ?)`, [
      i,
      `Customer ${i} — ünïcödé 🐬`,
      `${i}.1234`,
      big,
      i,
    ]);
    if (i % 3 === 0) {
      // multi-statement transaction across both tables
      await conn.query('START TRANSACTION');
      await conn.query('INSERT INTO order_lines VALUES (?, 1, ?, 10.50), (?, 2, ?, 99999999.99)', [i, `SKU-${i}`, i, `SKU-${i}-B`]);
      await conn.query("UPDATE customers SET tier = 'pro', balance = balance + 1, updated = '2025-06-30 23:59:59.999999' WHERE id = ?", [i]);
      await conn.query('COMMIT');
    }
    if (i % 5 === 0) await conn.query('UPDATE customers SET qty = qty * 2, notes = NULL, seen = NULL WHERE id = ?', [i]);
    if (i % 7 === 0) await conn.query('DELETE FROM customers WHERE id = ?', [i]);
    if (i % 9 === 0) await conn.query('DELETE FROM order_lines WHERE order_id = ? AND line_no = 2', [i]);
    if (i % 11 === 0) await conn.query('UPDATE order_lines SET line_no = line_no + 100 WHERE order_id = ?', [i]);
  }
  // one multi-row statement over many rows
  await conn.query('UPDATE customers SET qty = qty + 1 WHERE id BETWEEN ? AND ?', [from, from + count - 1]);
}
