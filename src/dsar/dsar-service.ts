import { join } from 'node:path';
import type { Directory, HomeEntry } from '../directory/directory.js';
import { DomicileError } from '../errors/domicile-error.js';
import { hasParts } from '../region/record-parts.js';
import type { RegionClient, RegionExport } from '../region/region-client.js';
import { newId } from '../shared/new-id.js';
import { type DsarRequest, DsarRequests } from './dsar-requests.js';

/** A data subject's export: everything held on them, decrypted, and where each part rests. */
export interface DsarExport {
  request: string;
  userId: string;
  market: string;
  exportedAt: string;
  homes: HomeEntry[];
  /** Per region that holds anything of the user. */
  regions: RegionExport[];
}

/**
 * Where the gateway serves the bytes of a photo (photo-routes.ts), which an export names beside
 * the photo's manifest. Spelt here, not in photo-sync.ts, so that DSARs (which the platform
 * opens) depend on no service (which stands on the platform).
 */
function photoContentPath(photoId: string): string {
  return `/v1/me/photos/${encodeURIComponent(photoId)}/content`;
}

export interface DsarHost {
  dataDir: string;
  directory: Directory;
  regions: ReadonlyMap<string, RegionClient>;
  /** Called once a user is erased, so nothing cached about them outlives the erasure. */
  forget: (userId: string) => void;
}

/**
 * Data subject requests across regions: an export gathers what every region holds of the
 * user; an erasure has every region delete the user's records and shred their keys (each
 * region recording it in its audit log), then removes the directory entry and sessions. The
 * erasure's progress is durable, region by region, so a restart resumes it.
 */
export class DsarService {
  private readonly requests: DsarRequests;

  constructor(private readonly host: DsarHost) {
    this.requests = new DsarRequests(join(host.dataDir, 'dsar', 'requests.db'));
  }

  status(id: string): DsarRequest {
    const found = this.requests.get(id);
    if (!found) throw new DomicileError('NOT_FOUND', `no data subject request "${id}": requests have ids like dsar_…`);
    return found;
  }

  async export(userId: string, source: string): Promise<DsarExport> {
    const user = await this.requireUser(userId);
    const request = this.requests.create({ id: newId('dsar', 12), userId, kind: 'export', source });
    try {
      const regions: RegionExport[] = [];
      for (const client of this.host.regions.values()) {
        const part = await client.exportUser({ userId, request: request.id });
        // A photo is exported as its manifest and where its bytes are, never its chunks.
        for (const s of part.services)
          for (const r of s.records) if (hasParts(s.service, r.collection)) r.content = photoContentPath(r.key);
        if (part.services.length > 0) regions.push(part);
      }
      this.requests.update(request.id, { state: 'completed', regionsDone: [...this.host.regions.keys()] });
      return {
        request: request.id,
        userId,
        market: user.market,
        exportedAt: new Date().toISOString(),
        homes: await this.host.directory.homes(userId),
        regions,
      };
    } catch (err) {
      this.requests.update(request.id, { state: 'failed', error: (err as Error).message });
      throw err;
    }
  }

  /** Starts an erasure and carries it as far as it goes now; a region that cannot be reached leaves it pending. */
  async erase(userId: string, source: string): Promise<DsarRequest> {
    await this.requireUser(userId);
    const request = this.requests.create({ id: newId('dsar', 12), userId, kind: 'erase', source });
    return this.carry(request);
  }

  /** Carries every pending erasure on (after a restart). */
  async resume(): Promise<DsarRequest[]> {
    const out: DsarRequest[] = [];
    for (const request of this.requests.pending()) if (request.kind === 'erase') out.push(await this.carry(request));
    return out;
  }

  close(): void {
    this.requests.close();
  }

  private async carry(request: DsarRequest): Promise<DsarRequest> {
    const done = new Set(request.regionsDone);
    for (const [id, client] of this.host.regions) {
      if (done.has(id)) continue;
      try {
        await client.eraseUser({ userId: request.userId, request: request.id });
      } catch (err) {
        return this.requests.update(request.id, {
          error: `region ${id}: ${(err as Error).message}; the erasure resumes when the platform restarts`,
        });
      }
      done.add(id);
      this.requests.update(request.id, { regionsDone: [...done] });
    }
    // Last, so that a crash before it finds the user still in the directory and resumes.
    await this.host.directory.deleteUser(request.userId);
    this.host.forget(request.userId);
    return this.requests.update(request.id, { state: 'completed', error: null });
  }

  private async requireUser(userId: string) {
    const user = await this.host.directory.getUser(userId);
    if (!user)
      throw new DomicileError('NOT_FOUND', `no user ${userId} in the directory (erased already, or never registered)`);
    return user;
  }
}
