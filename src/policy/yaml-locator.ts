import type { Document, LineCounter, Node } from 'yaml';
import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import type { PolicyPath } from './policy-problem.js';

export interface SourcePosition {
  line: number;
  column: number;
}

/**
 * Maps paths inside a policy (as zod reports them) back to the YAML nodes they came from, and
 * offsets (as the YAML parser reports them) to paths, so that every problem can name both
 * the line and the path of what is wrong.
 */
export class YamlLocator {
  readonly #doc: Document;
  readonly #lines: LineCounter;

  constructor(doc: Document, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  /**
   * Where the value at `path` is written. A path that does not exist in the file (a missing
   * key) resolves to its deepest existing ancestor: the mapping the key should be added to.
   * With `key: true`, a mapping entry resolves to its key rather than its value (used for
   * unknown keys, whose value is beside the point).
   */
  positionOf(path: PolicyPath, options: { key?: boolean } = {}): SourcePosition {
    const found = this.#walk(path);
    const { node, keyNode } = found;
    let offset: number | undefined;
    if (
      found.complete &&
      keyNode !== undefined &&
      (options.key === true || node === undefined || isEmptyScalar(node))
    ) {
      offset = keyNode.range?.[0];
    } else {
      offset = node?.range?.[0] ?? keyNode?.range?.[0];
    }
    return this.positionAt(offset ?? 0);
  }

  positionAt(offset: number): SourcePosition {
    const { line, col } = this.#lines.linePos(offset);
    return { line, column: col };
  }

  /** The path of the innermost mapping entry or list item that contains `offset`. */
  pathAt(offset: number): PolicyPath {
    const path: Array<string | number> = [];
    let node: unknown = this.#doc.contents;
    for (;;) {
      if (isMap(node)) {
        const pair = node.items.find((p) => covers(p.key, offset) || covers(p.value, offset));
        if (pair === undefined) return path;
        path.push(isScalar(pair.key) ? String(pair.key.value) : '?');
        if (!covers(pair.value, offset)) return path;
        node = pair.value;
      } else if (isSeq(node)) {
        const index = node.items.findIndex((item) => covers(item, offset));
        if (index < 0) return path;
        path.push(index);
        node = node.items[index];
      } else {
        return path;
      }
    }
  }

  #walk(path: PolicyPath): { node: Node | undefined; keyNode: Node | undefined; complete: boolean } {
    let node: Node | undefined = this.#resolve(this.#doc.contents);
    let keyNode: Node | undefined;
    for (const segment of path) {
      let next: Node | undefined;
      let nextKey: Node | undefined;
      let found = false;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (pair !== undefined) {
          found = true;
          nextKey = isScalar(pair.key) ? pair.key : undefined;
          next = this.#resolve(pair.value);
        }
      } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
        found = true;
        next = this.#resolve(node.items[segment]);
      }
      if (!found) return { node, keyNode, complete: false };
      node = next;
      keyNode = nextKey;
    }
    return { node, keyNode, complete: true };
  }

  /** Follows an alias (`*anchor`) to the node it names, so paths walk through it. */
  #resolve(value: unknown): Node | undefined {
    if (isAlias(value)) return value.resolve(this.#doc) ?? value;
    return isNode(value) ? value : undefined;
  }
}

function isNode(value: unknown): value is Node {
  return isMap(value) || isSeq(value) || isScalar(value) || isAlias(value);
}

/** `key:` with nothing after it: point at the key, the only thing on the line. */
function isEmptyScalar(node: Node): boolean {
  return (
    isScalar(node) &&
    node.value === null &&
    node.range !== undefined &&
    node.range !== null &&
    node.range[0] === node.range[1]
  );
}

function covers(value: unknown, offset: number): boolean {
  if (!isNode(value) || !value.range) return false;
  const [start, , end] = value.range;
  return offset >= start && offset < Math.max(end, start + 1);
}
