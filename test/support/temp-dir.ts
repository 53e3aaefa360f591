// One temp-folder helper for benchmarks and tests alike.
export { tempFolder as tempDir } from '../../bench/temp-folder.js';
