/**
 * `npm run cycles`: no import cycle between files, nor between folders, in any TypeScript of the
 * project. Type-only imports count: a cycle through types still ties its files together (none of
 * them can be read, moved or tested without the others), and the folder cycles this check was
 * made for ran through them. A folder's subfolders may use it (gateway/routes the gateway's
 * context): dependency-cruiser counts only folders side by side as a cycle.
 */

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'A file imports, directly or through others, a file that imports it: move what both need into a module of its own that imports neither.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-circular-folders',
      scope: 'folder',
      severity: 'error',
      comment:
        'A folder depends, through its files, on a folder that depends on it: the lower one must not import the higher (move the shared part down).',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    includeOnly: '^(src|bench|scripts|test|web)/',
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
