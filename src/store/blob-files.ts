import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DomicileError } from '../errors/domicile-error.js';

/**
 * A region's blob store on disk: large sealed record values as files, one folder per record.
 *
 *   <dir>/<h(user)>/<h(service)>/<h(collection)>/<h(key)>/<sha256 of the file>
 *   <dir>/<h(user)>/<h(service)>/<h(collection)>/<h(key)>/address.json
 *
 * h() is a hash, so no name a user or an app chooses becomes a path, and the files of a user, a
 * service of theirs or a category sit in one folder, which erasure, a purge or a shred empties. address.json names the
 * record (pseudonymous user id, service, collection, key: what the database holds in clear
 * too), so a sweep at start-up can find the record a folder belongs to. A file holds exactly
 * the sealed envelope the database would have held: encrypted like every record, bound to its
 * region, user and key. The database row holds a reference (see blobReference) with the file's
 * SHA-256, checked on every read.
 */

/** The first byte of a reference; an AEAD envelope starts with 0x01 (aead.ts), so the two never meet. */
const referenceFormat = 0xb0;
const referenceBytes = 1 + 32 + 8;

export interface RecordName {
  userId: string;
  service: string;
  collection: string;
  key: string;
}

export interface BlobReference {
  sha256: string;
  size: number;
}

export function blobReference(ref: BlobReference): Buffer {
  const out = Buffer.alloc(referenceBytes);
  out[0] = referenceFormat;
  Buffer.from(ref.sha256, 'hex').copy(out, 1);
  out.writeBigUInt64BE(BigInt(ref.size), 33);
  return out;
}

/** The reference a stored value holds, or undefined when it is the sealed value itself. */
export function readBlobReference(stored: Buffer): BlobReference | undefined {
  if (stored.length !== referenceBytes || stored[0] !== referenceFormat) return undefined;
  return { sha256: stored.subarray(1, 33).toString('hex'), size: Number(stored.readBigUInt64BE(33)) };
}

function h(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32);
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class BlobFiles {
  constructor(
    readonly dir: string,
    /** fsync each file and its folder before the row that refers to it commits. */
    private readonly durable: boolean,
  ) {}

  userDir(userId: string): string {
    return join(this.dir, h(userId));
  }

  serviceDir(userId: string, service: string): string {
    return join(this.userDir(userId), h(service));
  }

  collectionDir(userId: string, service: string, collection: string): string {
    return join(this.serviceDir(userId, service), h(collection));
  }

  recordDir(r: RecordName): string {
    return join(this.collectionDir(r.userId, r.service, r.collection), h(r.key));
  }

  /** Writes a sealed value as a file of the record's folder; returns its reference. */
  async write(r: RecordName, sealed: Buffer): Promise<BlobReference> {
    const sha256 = createHash('sha256').update(sealed).digest('hex');
    const dir = this.recordDir(r);
    const created = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (this.durable && created !== undefined) {
      // Each new folder's entry lives in its parent: synced, so a crash cannot lose the path to a committed file.
      for (let d = dir; d !== dirname(created); d = dirname(d)) await syncDir(dirname(d));
    }
    // Only the four names: callers pass whole writes, whose ciphertext must not land here.
    const address = { userId: r.userId, service: r.service, collection: r.collection, key: r.key };
    await this.writeFile(join(dir, 'address.json'), Buffer.from(JSON.stringify(address)));
    await this.writeFile(join(dir, sha256), sealed);
    if (this.durable) await syncDir(dir);
    return { sha256, size: sealed.length };
  }

  /** The file a reference names, checked against its SHA-256: INTEGRITY if it is missing or changed. */
  async read(r: RecordName, ref: BlobReference): Promise<Buffer> {
    const path = join(this.recordDir(r), ref.sha256);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      if (!isMissing(err)) throw err;
      throw new DomicileError(
        'INTEGRITY',
        `the blob file of record ${r.service}/${r.collection}/${r.key} of user ${r.userId} is missing (${path}): restore the region's blobs folder from a backup`,
        { cause: err },
      );
    }
    if (bytes.length !== ref.size || createHash('sha256').update(bytes).digest('hex') !== ref.sha256) {
      throw new DomicileError(
        'INTEGRITY',
        `the blob file of record ${r.service}/${r.collection}/${r.key} of user ${r.userId} was changed on disk (${path}): restore it from a backup`,
      );
    }
    return bytes;
  }

  /** Removes every file of the record's folder but the one kept (all when none), and the folder when nothing is kept. */
  async prune(r: RecordName, keep: string | undefined): Promise<void> {
    const dir = this.recordDir(r);
    if (keep === undefined) {
      await rm(dir, { recursive: true, force: true });
      return;
    }
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for (const name of names) {
      if (name !== keep && name !== 'address.json') await rm(join(dir, name), { force: true });
    }
  }

  /** Removes a folder and everything in it. */
  async removeFolder(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }

  /** Removes the empty folders at and below `dir` (what pruning every record in it leaves). */
  async removeEmptyFolders(dir: string): Promise<void> {
    for (const sub of await listDir(dir)) await this.removeEmptyFolders(join(dir, sub));
    await rmdir(dir).catch(() => undefined);
  }

  /**
   * Every record folder on disk, with the record it belongs to; `name` is undefined for a
   * folder cut short before its address was written (only start-up may remove those: a live
   * write makes its folder before its address).
   */
  async *recordFolders(): AsyncGenerator<{ dir: string; name: RecordName | undefined }> {
    for (const user of await listDir(this.dir)) {
      for (const service of await listDir(join(this.dir, user))) {
        for (const collection of await listDir(join(this.dir, user, service))) {
          for (const key of await listDir(join(this.dir, user, service, collection))) {
            const dir = join(this.dir, user, service, collection, key);
            const name = await readAddress(dir);
            yield { dir, name: name && this.recordDir(name) === dir ? name : undefined };
          }
        }
      }
    }
  }

  private async writeFile(path: string, bytes: Buffer): Promise<void> {
    // Written beside and renamed: a crash leaves the old file or the whole new one, never half.
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(bytes);
      if (this.durable) await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

async function readAddress(dir: string): Promise<RecordName | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'address.json'), 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  try {
    const { userId, service, collection, key } = JSON.parse(text) as Partial<RecordName>;
    if (
      typeof userId === 'string' &&
      typeof service === 'string' &&
      typeof collection === 'string' &&
      typeof key === 'string'
    )
      return { userId, service, collection, key };
  } catch {
    // Cut short mid-write: no address.
  }
  return undefined;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
