import { Command, CommanderError, Option } from 'commander';
import { isDomicileError } from '../errors/domicile-error.js';
import { collectRegionUrl, defaultDataDir, parsePort } from './cli-options.js';
import { runPolicyCheck } from './policy-check-command.js';
import { runRegion } from './region-command.js';
import { runReportResidency } from './report-command.js';
import { runUp } from './up-command.js';
import { runWhere } from './where-command.js';

/** Exit codes: 0 fine, 1 a check found problems (violations, tampering, invalid policy), 2 an error. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('domicile')
    .description("Keeps each user's personal data in the region their country's rules allow, moves it live, proves it.")
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  const dataOption = () => new Option('--data <dir>', 'data folder of the embedded default').default(defaultDataDir);
  const policyOption = () => new Option('--policy <file>', 'residency policy (YAML); default: the shipped examples/phase3.yaml');
  const urlOption = () => new Option('--url <url>', 'a running gateway (default: the one `domicile up` started on --data)');

  program.command('up')
    .description('start the gateway and every active region on the embedded default; prints the URLs')
    .addOption(policyOption())
    .addOption(dataOption())
    .addOption(new Option('--port <n>', 'gateway port').default(8080).argParser(parsePort))
    .addOption(new Option('--host <addr>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--region-url <id=url>', 'a region that runs as its own process (repeatable)').argParser(collectRegionUrl))
    .addOption(new Option('--durability <mode>', 'SQLite durability: full survives power loss, normal a process crash').choices(['full', 'normal']).default('full'))
    .action(async (o) => {
      exitCode = await runUp({ policy: o.policy, data: o.data, port: o.port, host: o.host, regionUrl: o.regionUrl, durability: o.durability });
    });

  program.command('region')
    .description("run one region's node as its own process, reached by the gateway over HTTP")
    .requiredOption('--id <region>', 'the region id, for example sg-singapore')
    .addOption(policyOption())
    .addOption(dataOption())
    .addOption(new Option('--port <n>', 'port').default(7100).argParser(parsePort))
    .addOption(new Option('--host <addr>', 'address to listen on').default('127.0.0.1'))
    .action(async (o) => {
      exitCode = await runRegion({ id: o.id, policy: o.policy, data: o.data, port: o.port, host: o.host });
    });

  const policy = program.command('policy').description('residency policies');
  policy.command('check <file>')
    .description('validate a policy; every problem names the file, the line and the fix')
    .option('--json', 'one JSON object on stdout')
    .action(async (file: string, o) => {
      exitCode = await runPolicyCheck(file, Boolean(o.json));
    });

  program.command('where <user>')
    .description('which regions hold what of a user')
    .option('--json', 'one JSON object on stdout')
    .addOption(urlOption())
    .addOption(dataOption())
    .addOption(policyOption())
    .action(async (user: string, o) => {
      exitCode = await runWhere({ url: o.url, data: o.data, policy: o.policy }, user, Boolean(o.json));
    });

  const report = program.command('report').description('reports for operators and auditors');
  report.command('residency')
    .description('placement per market × region × service and every violation; exit code 1 on any')
    .option('--json', 'one JSON object on stdout')
    .addOption(urlOption())
    .addOption(dataOption())
    .addOption(policyOption())
    .action(async (o) => {
      exitCode = await runReportResidency({ url: o.url, data: o.data, policy: o.policy }, Boolean(o.json));
    });

  program.command('bench <name>')
    .description('benchmarks that print their figures beside a baseline measured in the same run (api)')
    .option('--json', 'one JSON object on stdout')
    .option('--seconds <n>', 'seconds per measurement', '6')
    .action(async (name: string, o) => {
      // Loaded on demand: the load generator has no place in the start-up of `domicile up`.
      const { runBench } = await import('./bench-command.js');
      exitCode = await runBench(name, { json: Boolean(o.json), seconds: Number(o.seconds) });
    });

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are not errors; commander already printed what was wrong.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (isDomicileError(err)) {
      process.stderr.write(`domicile: ${err.message}\n`);
      return err.code === 'POLICY_INVALID' ? 1 : 2;
    }
    throw err;
  }
}
