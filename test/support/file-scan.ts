import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under a folder, recursively. */
export function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** The files under a folder that hold these bytes anywhere. */
export function filesHoldingBytes(dir: string, needle: Buffer): string[] {
  return listFiles(dir).filter((file) => readFileSync(file).includes(needle));
}

/** The files under `dir` whose bytes contain `needle` (as UTF-8, or as UTF-16LE). */
export function filesContaining(dir: string, needle: string): string[] {
  const encodings = [Buffer.from(needle, 'utf8'), Buffer.from(needle, 'utf16le')];
  return listFiles(dir).filter((file) => {
    const bytes = readFileSync(file);
    return encodings.some((e) => bytes.includes(e));
  });
}
