import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface SpawnedServer {
  url: string;
  child: ChildProcess;
  /** Every line it has printed to stdout so far. */
  lines: string[];
  stop(): Promise<void>;
}

/**
 * `domicile up` flags for a test or bench whose many users all come from this one machine:
 * the per-address and per-identifier limits on logins and registrations lifted.
 */
export const syntheticClientFlags = [
  '--logins-per-identifier',
  '1000000/1s',
  '--logins-per-address',
  '1000000/1s',
  '--registrations-per-address',
  '1000000/1s',
];

/** DOMICILE_BENCH_PROFILE=DIR: node flags that make a spawned server write a V8 CPU profile there when it stops. */
export function profileFlags(): string[] {
  const dir = process.env.DOMICILE_BENCH_PROFILE;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}

/**
 * Starts a server process and resolves with the first http:// or https:// URL it prints on a line that
 * matches `pattern`; rejects with its stderr if it exits first or takes longer than 30 s.
 */
export function spawnServer(args: string[], pattern: RegExp, env: NodeJS.ProcessEnv = {}): Promise<SpawnedServer> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not print its URL within 30 s: ${stderr}`));
    }, 30_000);
    const printed: string[] = [];
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      printed.push(line);
      const match = pattern.exec(line);
      const url = match ? /(https?:\/\/[^\s]+)/.exec(line)?.[1] : undefined;
      if (url) {
        clearTimeout(timer);
        resolve({ url, child, lines: printed, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code} before it was ready: ${stderr}`));
    });
  });
}
