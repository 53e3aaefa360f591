/**
 * How deeply JSON nests, measured without recursion: JSON.stringify and every reader that walks
 * a value recurse once per level, so a value nested a few thousand deep overflows the stack of
 * whoever serialises it next (a listing, a sync, the owner's export). Values are limited where
 * they enter (the gateway's body parser, the region's write) and checked where they are read.
 */

/** Most levels of arrays and objects a record value may nest (the top-level value is level 1). */
export const maxJsonDepth = 64;

/** The deepest nesting of arrays and objects in a JSON text (0 for a scalar); strings are skipped, escapes included. */
export function jsonTextDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** True when a parsed value nests deeper than `limit` levels; it walks at most `limit + 1` levels, with a stack of its own. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [v, level] = next;
    if (v === null || typeof v !== 'object') continue;
    if (level > limit) return true;
    for (const child of Object.values(v))
      if (child !== null && typeof child === 'object') pending.push([child, level + 1]);
  }
  return false;
}
