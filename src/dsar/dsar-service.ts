import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Directory, HomeEntry } from '../directory/directory.js';
import { DomicileError } from '../errors/domicile-error.js';
import { hasParts } from '../region/record-parts.js';
import type { RegionClient, RegionExport } from '../region/region-client.js';
import { newId } from '../shared/new-id.js';
import type { DsarRequest, DsarStore } from './dsar-requests.js';
import { PostgresDsarStore } from './postgres-dsar-store.js';
import { SqliteDsarStore } from './sqlite-dsar-store.js';

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

/** Tunes how erasures are carried; the defaults suit production. */
export interface DsarOptions {
  /**
   * How long a gateway's hold on an erasure lasts unless renewed (default 30 s; renewed every
   * third of it while the gateway works): how long an erasure a dead gateway held waits for
   * another to take it.
   */
  leaseMs?: number;
  /** Called before each region's part of an erasure (tests: to count the calls, or stop a gateway there). */
  beforeRegionErase?: (step: { request: string; region: string }) => void | Promise<void>;
}

export interface DsarHost {
  store: DsarStore;
  directory: Directory;
  regions: ReadonlyMap<string, RegionClient>;
  /** Called once a user is erased, so nothing cached about them outlives the erasure. */
  forget: (userId: string) => void;
  options?: DsarOptions | undefined;
}

/** The requests' store: beside a shared PostgreSQL directory, else in the data folder. */
export function openDsarStore(dataDir: string, directoryUrl: string | undefined): Promise<DsarStore> {
  return directoryUrl
    ? PostgresDsarStore.open(directoryUrl)
    : Promise.resolve(new SqliteDsarStore(join(dataDir, 'dsar', 'requests.db')));
}

/**
 * DOMICILE_DSAR_LEASE_MS: the lease of DsarOptions for `domicile up` (default 30 s), which also
 * sets how often a gateway looks for erasures that others left; short in the kill tests.
 */
export function dsarLeaseFromEnv(): number | undefined {
  const text = process.env.DOMICILE_DSAR_LEASE_MS;
  if (text === undefined) return undefined;
  const ms = Number(text);
  if (!/^\d+$/.test(text) || ms < 100 || ms > 3_600_000) {
    throw new DomicileError(
      'BAD_REQUEST',
      `DOMICILE_DSAR_LEASE_MS="${text}" is not a whole number of milliseconds from 100 to 3600000: set it to one (30000 is the default), or unset it`,
    );
  }
  return ms;
}

/**
 * Fault injection for the kill tests: with DOMICILE_FAULT=dsar-region-erased the process SIGKILLs
 * itself once the first region's part of an erasure is recorded, holding the erasure's lease.
 */
function envFault(point: string): void {
  if (process.env.DOMICILE_FAULT === point) {
    process.stderr.write(`domicile: DOMICILE_FAULT=${point}: killing this process (fault injection)\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

/** Who holds a lease: a name per service, readable in the table (host and pid) and unique (two platforms in one process). */
function holderName(): string {
  return `${hostname()}:${process.pid}:${newId('dsar-holder', 6)}`;
}

/**
 * Data subject requests across regions: an export gathers what every region holds of the
 * user; an erasure has every region delete the user's records and shred their keys (each
 * region recording it in its audit log), then removes the directory entry and sessions. The
 * erasure's progress is durable, region by region, so a restart (of this gateway, or of any
 * other sharing its database) resumes it; it is leased while worked, so no two gateways, nor
 * two workers of one, carry it at once.
 */
export class DsarService {
  private readonly store: DsarStore;
  private readonly holder = holderName();
  /** How long a hold on an erasure lasts unless renewed. */
  readonly leaseMs: number;
  private readonly working = new Set<Promise<unknown>>();
  private closing = false;

  constructor(private readonly host: DsarHost) {
    this.store = host.store;
    this.leaseMs = host.options?.leaseMs ?? 30_000;
  }

  async status(id: string): Promise<DsarRequest> {
    const found = await this.store.get(id);
    if (!found) throw new DomicileError('NOT_FOUND', `no data subject request "${id}": requests have ids like dsar_…`);
    return found;
  }

  async export(userId: string, source: string): Promise<DsarExport> {
    const user = await this.requireUser(userId);
    const request = await this.store.create(
      { id: newId('dsar', 12), userId, kind: 'export', source },
      this.holder,
      this.leaseMs,
    );
    try {
      const regions: RegionExport[] = [];
      for (const client of this.host.regions.values()) {
        const part = await client.exportUser({ userId, request: request.id });
        // A photo is exported as its manifest and where its bytes are, never its chunks.
        for (const s of part.services)
          for (const r of s.records) if (hasParts(s.service, r.collection)) r.content = photoContentPath(r.key);
        if (part.services.length > 0) regions.push(part);
      }
      await this.store.update(
        request.id,
        this.holder,
        { state: 'completed', regionsDone: [...this.host.regions.keys()] },
        { release: true },
      );
      return {
        request: request.id,
        userId,
        market: user.market,
        exportedAt: new Date().toISOString(),
        homes: await this.host.directory.homes(userId),
        regions,
      };
    } catch (err) {
      await this.store
        .update(request.id, this.holder, { state: 'failed', error: (err as Error).message }, { release: true })
        .catch(() => undefined);
      throw err;
    }
  }

  /** Starts an erasure and carries it as far as it goes now; a region that cannot be reached leaves it pending. */
  async erase(userId: string, source: string): Promise<DsarRequest> {
    if (this.closing) throw new DomicileError('UNAVAILABLE', 'this gateway is stopping: send the erasure again');
    await this.requireUser(userId);
    const request = await this.store.create(
      { id: newId('dsar', 12), userId, kind: 'erase', source },
      this.holder,
      this.leaseMs,
    );
    return this.track(this.carry(request));
  }

  /**
   * Carries on every pending erasure that no live worker holds (after a restart, or one a
   * stopped gateway left), each once per call: one a region still refuses stays pending.
   */
  resume(): Promise<DsarRequest[]> {
    // Tracked as a whole, so that closing waits for a claim under way too, and releases what it took.
    return this.track(this.resumeAll());
  }

  private async resumeAll(): Promise<DsarRequest[]> {
    const out: DsarRequest[] = [];
    const tried: string[] = [];
    while (!this.closing) {
      const request = await this.store.claimPending(this.holder, this.leaseMs, tried);
      if (!request) break;
      tried.push(request.id);
      out.push(await this.carry(request));
    }
    return out;
  }

  /** Lets the erasures under way stop at their next step and hands them back, for another gateway to go on at once. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.working]);
    await this.store.releaseAll(this.holder).catch(() => undefined);
    await this.store.close();
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.working.add(work);
    void work.finally(() => this.working.delete(work)).catch(() => undefined);
    return work;
  }

  /** Carries an erasure this service leases, renewing the lease as it goes. */
  private async carry(request: DsarRequest): Promise<DsarRequest> {
    const held = { lost: false };
    const renewal = setInterval(
      () => {
        this.store.renew(request.id, this.holder, this.leaseMs).then(
          (ok) => {
            if (!ok) held.lost = true;
          },
          // The database is unreachable for now: the next step's write says whether the lease held.
          () => undefined,
        );
      },
      Math.max(10, Math.floor(this.leaseMs / 3)),
    );
    renewal.unref();
    try {
      return await this.carryHeld(request, held);
    } finally {
      clearInterval(renewal);
    }
  }

  private async carryHeld(request: DsarRequest, held: { lost: boolean }): Promise<DsarRequest> {
    const done = new Set(request.regionsDone);
    for (const [id, client] of this.host.regions) {
      if (done.has(id)) continue;
      await this.host.options?.beforeRegionErase?.({ request: request.id, region: id });
      if (held.lost) return this.status(request.id);
      if (this.closing) {
        return (
          (await this.store.update(
            request.id,
            this.holder,
            { error: 'the gateway carrying it stopped; another gateway, or this one when it starts again, goes on' },
            { release: true },
          )) ?? this.status(request.id)
        );
      }
      try {
        await client.eraseUser({ userId: request.userId, request: request.id });
      } catch (err) {
        return (
          (await this.store.update(
            request.id,
            this.holder,
            {
              error: `region ${id}: ${(err as Error).message}; the erasure is tried again when a gateway starts, and every half minute while one runs`,
            },
            { release: true },
          )) ?? this.status(request.id)
        );
      }
      done.add(id);
      const saved = await this.store.update(
        request.id,
        this.holder,
        { regionsDone: [...done] },
        { leaseMs: this.leaseMs },
      );
      // Another holds it now (this one's lease ran out): that one goes on from what it finds
      // (a region's part done twice is done once: the region knows the request's id).
      if (!saved) return this.status(request.id);
      envFault('dsar-region-erased');
    }
    // Last, so that a crash before it finds the user still in the directory and resumes.
    await this.host.directory.deleteUser(request.userId);
    this.host.forget(request.userId);
    return (
      (await this.store.update(request.id, this.holder, { state: 'completed', error: null }, { release: true })) ??
      this.status(request.id)
    );
  }
  private async requireUser(userId: string) {
    const user = await this.host.directory.getUser(userId);
    if (!user)
      throw new DomicileError('NOT_FOUND', `no user ${userId} in the directory (erased already, or never registered)`);
    return user;
  }
}
