// npm's prepare step: runs after `npm ci` or `npm install` in a clone, and before `npm pack`.
// It builds dist/ when the build tools (typescript and vite, devDependencies) are installed.
// An install with --omit=dev, the production one, has none: it runs the dist/ already built,
// by a full install before it (`npm ci`, then `npm prune --omit=dev`, as the Dockerfile does)
// or shipped in the published package. Without either there is nothing to run: say so.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** @param {string} name */
const installed = (name) => {
  try {
    require.resolve(`${name}/package.json`);
    return true;
  } catch {
    return false;
  }
};
const root = new URL('../', import.meta.url);
const built = ['dist/src/cli/main.js', 'dist/web/index.html'].every((file) => existsSync(new URL(file, root)));

if (installed('typescript') && installed('vite')) {
  // npm_execpath is the npm that runs this script; `npm` on the PATH when run by hand.
  const npm = process.env.npm_execpath;
  const build = npm
    ? spawnSync(process.execPath, [npm, 'run', 'build'], { stdio: 'inherit' })
    : spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
  process.exit(build.status ?? 1);
} else if (built) {
  console.log(
    'domicile: the build tools are not installed (an install with --omit=dev): running the dist/ that is here, built before',
  );
} else {
  console.error(
    'domicile: dist/ is not built, and the build tools that build it (typescript, vite) are not installed: an install with --omit=dev needs a dist/ built before it. Run `npm ci` (with the dev dependencies) to build dist/, then `npm prune --omit=dev` to drop them; or install the published package, which carries dist/.',
  );
  process.exit(1);
}
