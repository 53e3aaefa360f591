import { createHash, randomBytes } from 'node:crypto';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { packageRoot } from '../src/shared/packaged-file.js';
import type { Figure } from './bench-output.js';
import { type Machine, machine } from './bench-output.js';
import { profileFlags, type SpawnedServer, spawnServer } from './spawn-server.js';
import { tempFolder } from './temp-folder.js';

export interface PhotoSyncBenchOptions {
  /** Size of each file, in MB (default 50). */
  megabytes: number;
  files: number;
  /** Chunks sent at once (default 4). */
  parallel: number;
  log: (line: string) => void;
}

export interface PhotoSyncReport {
  machine: Machine;
  options: Omit<PhotoSyncBenchOptions, 'log'>;
  uploadMBps: number;
  downloadMBps: number;
  copyMBps: number;
  figures: Figure[];
}

async function call(
  url: string,
  init: RequestInit & { headers?: Record<string, string> },
  expected: number,
): Promise<Response> {
  const res = await fetch(url, init);
  if (res.status !== expected) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${await res.text()}`);
  return res;
}

/**
 * `domicile bench photo-sync`: files of `megabytes` MB uploaded in chunks and downloaded again
 * over HTTP through a real `domicile up` (consent granted, sealed in the user's region,
 * verified by SHA-256 both ways), beside a plain copy of the same file on the same disk in the
 * same run.
 */
export async function photoSyncBench(options: PhotoSyncBenchOptions): Promise<PhotoSyncReport> {
  const data = tempFolder('bench-photo-sync');
  let server: SpawnedServer | undefined;
  try {
    const size = options.megabytes * 1024 * 1024;
    const file = join(data.path, 'photo.bin');
    await writeFile(file, randomBytes(size));
    options.log(`the baseline: copying a ${options.megabytes} MB file on the same disk…`);
    let copyMs = 0;
    for (let i = 0; i < options.files; i++) {
      const t = performance.now();
      await copyFile(file, join(data.path, `copy-${i}.bin`));
      copyMs += performance.now() - t;
      await rm(join(data.path, `copy-${i}.bin`));
    }

    server = await spawnServer(
      [
        ...profileFlags(),
        join(packageRoot, 'bin', 'domicile.js'),
        'up',
        '--data',
        join(data.path, 'data'),
        '--port',
        '0',
      ],
      /gateway/,
      { DOMICILE_LOG: 'off' },
    );
    const base = server.url;
    const json = { 'content-type': 'application/json' };
    const reg = (await (
      await call(
        `${base}/v1/accounts`,
        {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ email: 'photos@example.com', password: 'bench-password', market: 'MY' }),
        },
        201,
      )
    ).json()) as { token: string };
    const auth = { authorization: `Bearer ${reg.token}` };
    await call(
      `${base}/v1/me/consents/cloud-backup`,
      {
        method: 'PUT',
        headers: { ...auth, ...json },
        body: JSON.stringify({ decision: 'grant', noticeVersion: '2014-08' }),
      },
      200,
    );

    const bytes = await readFile(file);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    let uploadMs = 0;
    let downloadMs = 0;
    for (let f = 0; f < options.files; f++) {
      options.log(
        `file ${f + 1}/${options.files}: uploading ${options.megabytes} MB in chunks, ${options.parallel} at a time…`,
      );
      let t = performance.now();
      const manifest = (await (
        await call(
          `${base}/v1/me/photos`,
          {
            method: 'POST',
            headers: { ...auth, ...json },
            body: JSON.stringify({ name: `IMG_${f}.jpg`, contentType: 'image/jpeg', size, sha256 }),
          },
          201,
        )
      ).json()) as { id: string; chunks: number; chunkSize: number };
      let next = 0;
      const worker = async () => {
        while (next < manifest.chunks) {
          const i = next++;
          await call(
            `${base}/v1/me/photos/${manifest.id}/chunks/${i}`,
            {
              method: 'PUT',
              headers: { ...auth, 'content-type': 'application/octet-stream' },
              body: bytes.subarray(i * manifest.chunkSize, (i + 1) * manifest.chunkSize),
            },
            200,
          );
        }
      };
      await Promise.all(Array.from({ length: options.parallel }, worker));
      await call(`${base}/v1/me/photos/${manifest.id}/complete`, { method: 'POST', headers: auth }, 200);
      uploadMs += performance.now() - t;

      options.log(`file ${f + 1}/${options.files}: downloading it…`);
      t = performance.now();
      const res = await call(`${base}/v1/me/photos/${manifest.id}/content`, { headers: auth }, 200);
      const back = Buffer.from(await res.arrayBuffer());
      downloadMs += performance.now() - t;
      if (createHash('sha256').update(back).digest('hex') !== sha256)
        throw new Error(`file ${f + 1}: the downloaded bytes differ from the uploaded`);
    }
    const mb = options.megabytes * options.files;
    const report: PhotoSyncReport = {
      machine: machine(),
      options: { megabytes: options.megabytes, files: options.files, parallel: options.parallel },
      uploadMBps: mb / (uploadMs / 1000),
      downloadMBps: mb / (downloadMs / 1000),
      copyMBps: mb / (copyMs / 1000),
      figures: [],
    };
    report.figures = [
      {
        name: 'upload (chunks, sealed, SHA-256 checked)',
        value: report.uploadMBps,
        unit: 'MB/s',
        baseline: { name: 'plain file copy', value: report.copyMBps },
      },
      {
        name: 'download (opened, streamed)',
        value: report.downloadMBps,
        unit: 'MB/s',
        baseline: { name: 'plain file copy', value: report.copyMBps },
      },
    ];
    return report;
  } finally {
    await server?.stop();
    data.remove();
  }
}
