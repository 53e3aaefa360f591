/**
 * Canonical JSON of a parsed JSON value: object members sorted by name (UTF-16 code units,
 * the same in every region and runtime, unlike a locale's collation), no whitespace, numbers
 * and strings as JSON.stringify writes them. Two regions holding the same logical value get the
 * same text whatever order its members were written in, so its hash can be compared.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // JSON.stringify of a value that came from JSON.parse: never undefined.
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
