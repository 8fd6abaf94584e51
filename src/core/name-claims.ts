/**
 * Who holds each name derived from a table: a topic or an index name is made valid by replacing
 * or lower-casing characters, so two tables whose names differ only in those characters would
 * share one topic or index and mix their rows. Claims compare the name as it was before it was
 * made valid: two tables sent to one name on purpose (a route transform, an index router, a
 * template without `{table}`) fill in the same raw name and do not collide.
 */
export class NameClaims {
  readonly #owners = new Map<string, { raw: string; owner: string }>();

  /**
   * Records that `owner` (a table, `database.table`) uses `name`, filled in as `raw` before it was
   * made valid. Returns the earlier owner when another raw name already holds `name`.
   */
  claim(name: string, raw: string, owner: string): string | undefined {
    const held = this.#owners.get(name);
    if (!held) {
      this.#owners.set(name, { raw, owner });
      return undefined;
    }
    return held.raw === raw ? undefined : held.owner;
  }
}

/** `s` as a regular expression matching only itself: for the table lists a hint suggests (TABLE_EXCLUDE, a transform's TABLES). */
export const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
