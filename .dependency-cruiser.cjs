/**
 * `npm run cycles`: no import cycle between files, nor between folders, in any TypeScript of the
 * project. Type-only imports count: a cycle through types still ties its files together (none of
 * them can be read, moved or tested without the others), and the folder cycles this check was
 * made for ran through them. A folder's subfolders may use it (gateway/routes the gateway's
 * context): dependency-cruiser counts only folders side by side as a cycle.
 */

// TEMPORARY, until the region contract is merged: region-client.ts imports RegionExport from
// region-dsar.ts, which imports region-client.ts (directly, and through request-validation.ts,
// migration-validation.ts and readable-view.ts). The fix is in region-client.ts: RegionExport is
// declared there (with the contract) and region-dsar.ts imports it. Then this goes.
const regionDsarCycle = '^src/region/(region-client|region-dsar|request-validation|migration-validation|readable-view)[.]ts$';

// TEMPORARY, likewise: errors/http-error-reply.ts (the HTTP answer to any error, which the region
// server imports) takes its request ids from shared/new-id.ts, while shared's helpers throw
// DomicileErrors. The fix is to move http-error-reply.ts out of errors/ (into shared/, say) with
// the region server's import of it. Then the second folder rule goes and the first loses its pathNot.
const errorsAndShared = '^src/(errors|shared)$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A file imports, directly or through others, a file that imports it: move what both need into a module of its own that imports neither.',
      from: {},
      to: { circular: true, via: { pathNot: regionDsarCycle } },
    },
    {
      name: 'no-circular-folders',
      scope: 'folder',
      severity: 'error',
      comment: 'A folder depends, through its files, on a folder that depends on it: the lower one must not import the higher (move the shared part down).',
      from: { pathNot: errorsAndShared },
      to: { circular: true },
    },
    {
      name: 'no-circular-folders',
      scope: 'folder',
      severity: 'error',
      comment: 'As above, for errors/ and shared/, whose cycle with each other alone is allowed for now.',
      from: { path: errorsAndShared },
      to: { circular: true, pathNot: errorsAndShared },
    },
  ],
  options: {
    includeOnly: '^(src|bench|scripts|test|web)/',
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
