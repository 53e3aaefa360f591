import { Command, CommanderError, Option, type OptionValues } from '@commander-js/extra-typings';
import { defaultPasswordChecks } from '../crypto/password.js';
import { isDomicileError } from '../errors/domicile-error.js';
import { defaultAuthThrottle } from '../gateway/auth-throttle.js';
import { runAuditProof, runAuditVerify } from './audit-command.js';
import { explainMissingBenchPackage } from './bench-packages.js';
import {
  collectRegionUrl,
  defaultDataDir,
  parseByteSize,
  parseDirectoryUrl,
  parseNonNegativeInt,
  parsePort,
  parsePositiveInt,
  parseRateLimit,
  parseServices,
  parseTrustedProxies,
} from './cli-options.js';
import { runDsarErase, runDsarExport, runDsarStatus } from './dsar-command.js';
import { type MigrateAction, migrateActions, runMigrate } from './migrate-command.js';
import type { OperatorAccess } from './operator-api.js';
import { runPlan } from './plan-command.js';
import { runPolicyCheck } from './policy-check-command.js';
import { runRegion } from './region-command.js';
import { runReportResidency } from './report-command.js';
import { runUp } from './up-command.js';
import { runWhere } from './where-command.js';

/** Where a command's action leaves the exit code that main() returns. */
type SetExitCode = (code: number) => void;

const dataOption = () => new Option('--data <dir>', 'data folder of the embedded default').default(defaultDataDir);
const policyOption = () =>
  new Option('--policy <file>', 'residency policy (YAML); default: the shipped examples/phase3.yaml');
const urlOption = () =>
  new Option('--url <url>', 'a running gateway (default: the one `domicile up` started on --data)');

/** The options of a command that works on a running platform (or opens the embedded one): --url, --data, --policy. */
function withAccess<Args extends unknown[], Opts extends OptionValues, GlobalOpts extends OptionValues>(
  command: Command<Args, Opts, GlobalOpts>,
) {
  return command.addOption(urlOption()).addOption(dataOption()).addOption(policyOption());
}

/** `--directory-url`, for `up` and for the commands that open the platform when no gateway runs. */
const directoryUrlOption = (description: string) =>
  new Option('--directory-url <url>', description).argParser(parseDirectoryUrl);

/** For commands that read the directory: with no gateway running, they open the shared one rather than the data folder's. */
const readsDirectoryOption = () =>
  directoryUrlOption(
    "with no gateway running, the gateways' shared PostgreSQL directory (postgres://…, as given to `domicile up`); default: the data folder's",
  );

function accessOf(o: {
  url?: string | undefined;
  data: string;
  policy?: string | undefined;
  directoryUrl?: string | undefined;
}): OperatorAccess {
  return { url: o.url, data: o.data, policy: o.policy, directoryUrl: o.directoryUrl };
}

/** Exit codes: 0 fine, 1 a check found problems (violations, tampering, invalid policy), 2 an error. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const setExitCode: SetExitCode = (code) => {
    exitCode = code;
  };
  const program = new Command('domicile')
    .description("Keeps each user's personal data in the region their country's rules allow, moves it live, proves it.")
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  // In this order in the help.
  for (const add of [
    addUp,
    addRegion,
    addPolicy,
    addWhere,
    addReport,
    addAudit,
    addDsar,
    addPlan,
    addMigrate,
    addDemo,
    addBench,
  ])
    add(program, setExitCode);

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

function addUp(program: Command, setExitCode: SetExitCode): void {
  program
    .command('up')
    .description('start the gateway and every active region on the embedded default; prints the URLs')
    .addOption(policyOption())
    .addOption(dataOption())
    .addOption(new Option('--port <n>', 'gateway port').default(8080).argParser(parsePort))
    .addOption(new Option('--host <addr>', 'address to listen on').default('127.0.0.1'))
    .addOption(
      new Option('--region-url <id=url>', 'a region that runs as its own process (repeatable)').argParser(
        collectRegionUrl,
      ),
    )
    .addOption(
      new Option(
        '--region-tls-ca <file>',
        "the PEM CA that signed the https:// regions' certificates (default: the system's CAs)",
      ),
    )
    .addOption(
      new Option(
        '--region-tls-cert <file>',
        "this gateway's PEM certificate, presented to regions that ask for one (mutual TLS)",
      ),
    )
    .addOption(new Option('--region-tls-key <file>', "the PEM private key of --region-tls-cert's certificate"))
    .addOption(
      new Option('--durability <mode>', 'SQLite durability: full survives power loss, normal a process crash')
        .choices(['full', 'normal'])
        .default('full'),
    )
    .addOption(
      new Option(
        '--catalog <file>',
        "the Mi store's catalog and flash sales (YAML); default: the scenario's examples/catalog.yaml",
      ),
    )
    .addOption(
      directoryUrlOption(
        'a PostgreSQL database (postgres://…) for the directory and the migration coordinator, which several gateways share; default: the embedded ones',
      ),
    )
    .addOption(
      new Option(
        '--emulate-wan <file>',
        "WAN emulation: a latency file (examples/latency.yaml); a request whose x-domicile-client-market header names a market is answered after that market's network time to whoever serves it",
      ),
    )
    .addOption(
      new Option(
        '--logins-per-identifier <count/duration>',
        'login attempts per phone or e-mail (counted by its blind index) before 429; each gateway counts its own',
      )
        .default(defaultAuthThrottle.loginsPerIdentifier, '10/15m')
        .argParser(parseRateLimit),
    )
    .addOption(
      new Option('--logins-per-address <count/duration>', 'login attempts per client address before 429')
        .default(defaultAuthThrottle.loginsPerAddress, '30/1m')
        .argParser(parseRateLimit),
    )
    .addOption(
      new Option('--registrations-per-address <count/duration>', 'accounts registered per client address before 429')
        .default(defaultAuthThrottle.registrationsPerAddress, '3/1h')
        .argParser(parseRateLimit),
    )
    .addOption(
      new Option(
        '--login-refusal-delay <ms>',
        'how long a refused (429) login or registration is held before it is answered, so a looping flood cannot turn refusals into thousands of requests a second; 0: at once',
      )
        .default(defaultAuthThrottle.refusalDelayMs)
        .argParser(parseNonNegativeInt),
    )
    .addOption(
      new Option(
        '--trust-proxy <addresses>',
        'load balancers (IP addresses or CIDR ranges, comma-separated) whose X-Forwarded-For gives the client address; default: none, the TCP peer is the client',
      ).argParser(parseTrustedProxies),
    )
    .addOption(
      new Option(
        '--password-concurrency <n>',
        `password hashes (scrypt) run at once in this process; default ${defaultPasswordChecks.concurrency} here (half the cores, at most 2)`,
      ).argParser(parsePositiveInt),
    )
    .addOption(
      new Option(
        '--password-queue <n>',
        'password hashes that may wait for a turn; past that, a login is answered 503 at once',
      )
        .default(defaultPasswordChecks.maxQueue)
        .argParser(parseNonNegativeInt),
    )
    .addOption(
      new Option(
        '--photo-quota <size>',
        "the photo bytes each user may keep (Mi Cloud's free 5GiB by default); past it an upload is refused with 413 QUOTA_EXCEEDED",
      ).argParser(parseByteSize),
    )
    .action(async (o) => {
      setExitCode(
        await runUp({
          policy: o.policy,
          data: o.data,
          port: o.port,
          host: o.host,
          regionUrl: o.regionUrl,
          regionTls: { ca: o.regionTlsCa, cert: o.regionTlsCert, key: o.regionTlsKey },
          durability: o.durability,
          directoryUrl: o.directoryUrl,
          catalog: o.catalog,
          emulateWan: o.emulateWan,
          photoQuota: o.photoQuota,
          throttle: {
            loginsPerIdentifier: o.loginsPerIdentifier,
            loginsPerAddress: o.loginsPerAddress,
            registrationsPerAddress: o.registrationsPerAddress,
            refusalDelayMs: o.loginRefusalDelay,
          },
          trustProxy: o.trustProxy,
          passwordChecks: {
            concurrency: o.passwordConcurrency ?? defaultPasswordChecks.concurrency,
            maxQueue: o.passwordQueue,
          },
        }),
      );
    });
}

function addRegion(program: Command, setExitCode: SetExitCode): void {
  program
    .command('region')
    .description("run one region's node as its own process, reached by the gateway over HTTP")
    .requiredOption('--id <region>', 'the region id, for example sg-singapore')
    .addOption(policyOption())
    .addOption(dataOption())
    .addOption(new Option('--port <n>', 'port').default(7100).argParser(parsePort))
    .addOption(new Option('--host <addr>', 'address to listen on').default('127.0.0.1'))
    .addOption(new Option('--tls-cert <file>', "serve HTTPS with this PEM certificate (the node's, with its chain)"))
    .addOption(new Option('--tls-key <file>', "the PEM private key of --tls-cert's certificate"))
    .addOption(
      new Option(
        '--tls-client-ca <file>',
        'mutual TLS: accept only callers (gateways) whose certificate this PEM CA signed',
      ),
    )
    .action(async (o) => {
      setExitCode(
        await runRegion({
          id: o.id,
          policy: o.policy,
          data: o.data,
          port: o.port,
          host: o.host,
          tlsCert: o.tlsCert,
          tlsKey: o.tlsKey,
          tlsClientCa: o.tlsClientCa,
        }),
      );
    });
}

function addPolicy(program: Command, setExitCode: SetExitCode): void {
  const policy = program.command('policy').description('residency policies');
  policy
    .command('check <file>')
    .description('validate a policy; every problem names the file, the line and the fix')
    .option('--json', 'one JSON object on stdout')
    .action(async (file, o) => {
      setExitCode(await runPolicyCheck(file, Boolean(o.json)));
    });
}

function addWhere(program: Command, setExitCode: SetExitCode): void {
  withAccess(
    program
      .command('where <user>')
      .description('which regions hold what of a user')
      .option('--json', 'one JSON object on stdout'),
  ).action(async (user, o) => {
    setExitCode(await runWhere(accessOf(o), user, Boolean(o.json)));
  });
}

function addReport(program: Command, setExitCode: SetExitCode): void {
  const report = program.command('report').description('reports for operators and auditors');
  withAccess(
    report
      .command('residency')
      .description('placement per market × region × service and every violation; exit code 1 on any')
      .option('--json', 'one JSON object on stdout')
      .option(
        '--proof <file>',
        "also write a residency proof: the report and every region's verified, signed audit checkpoint",
      )
      .addOption(readsDirectoryOption()),
  ).action(async (o) => {
    setExitCode(await runReportResidency(accessOf(o), Boolean(o.json), o.proof));
  });
}

function addAudit(program: Command, setExitCode: SetExitCode): void {
  const audit = program.command('audit').description("every region's tamper-evident audit log");
  withAccess(
    audit
      .command('verify')
      .description(
        "check every region's log against its signed checkpoints and the last verification; exit code 1 on any tampering",
      )
      .option('--json', 'one JSON object on stdout')
      .option('--proof <file>', 'check a residency proof file offline instead')
      .option('--witness <file>', 'the pins of the last verification (default <data>/audit/witness.json)')
      .addOption(readsDirectoryOption()),
  ).action(async (o) => {
    setExitCode(await runAuditVerify(accessOf(o), { json: Boolean(o.json), proof: o.proof, witness: o.witness }));
  });
  withAccess(
    audit
      .command('proof')
      .description("an entry's RFC 6962 inclusion proof against its region's newest signed checkpoint")
      .requiredOption('--region <id>', 'the region whose log holds the entry')
      .requiredOption('--seq <n>', 'the entry, numbered from 1', parsePositiveInt)
      .option('--json', 'one JSON object on stdout'),
  ).action(async (o) => {
    setExitCode(await runAuditProof(accessOf(o), o.region, o.seq, Boolean(o.json)));
  });
}

function addDsar(program: Command, setExitCode: SetExitCode): void {
  const dsar = program.command('dsar').description('data subject requests: export or erase a user everywhere');
  withAccess(
    dsar
      .command('export <user>')
      .description("the user's data from every region, decrypted, as one JSON bundle")
      .option('--out <file>', 'write the bundle to a file (mode 0600) instead of stdout'),
  ).action(async (user, o) => {
    setExitCode(await runDsarExport(accessOf(o), user, o.out));
  });
  withAccess(
    dsar
      .command('erase <user>')
      .description(
        "shred the user's keys and delete their data in every region, then the account; the audit entries stay",
      )
      .option('--json', 'one JSON object on stdout'),
  ).action(async (user, o) => {
    setExitCode(await runDsarErase(accessOf(o), user, Boolean(o.json)));
  });
  withAccess(
    dsar
      .command('status <request>')
      .description('the status of a request (its id)')
      .option('--json', 'one JSON object on stdout'),
  ).action(async (request, o) => {
    setExitCode(await runDsarStatus(accessOf(o), request, Boolean(o.json)));
  });
}

function addPlan(program: Command, setExitCode: SetExitCode): void {
  withAccess(
    program
      .command('plan')
      .description('what would move: per service and market, users, records and bytes, source → destination, in order')
      .option('--from <file>', 'the policy to move away from (with --to: the difference of the two)')
      .option('--to <file>', 'the policy to move to (default: the one in force)')
      .addOption(
        new Option('--services <list>', 'services to move, in order (default shop,account,messaging,cloud)').argParser(
          parseServices,
        ),
      )
      .option(
        '--latency <file>',
        'with --to: the round trips for the latency forecast (default: examples/latency.yaml)',
      )
      .option('--json', 'one JSON object on stdout'),
  ).action(async (o) => {
    setExitCode(
      await runPlan(accessOf(o), {
        from: o.from,
        to: o.to,
        services: o.services,
        json: Boolean(o.json),
        latency: o.latency,
      }),
    );
  });
}

const migrateHelp: Record<MigrateAction, string> = {
  start: 'start moving every user whose home the policy in force changes (progress bar on a terminal)',
  status: 'state, progress, rate, ETA, lag, cut-over pauses; exit 1 if it failed',
  pause: 'pause after the current step (reverse replication goes on)',
  resume: 'go on after a pause, an interruption (restart) or a failure',
  rollback: 'undo it: every user back to the source, nothing written meanwhile lost',
  complete: 'once every batch is cut over: purge the sources and record the transfers',
  settings: 'change --batch-size or --rate while it runs',
};

function addMigrate(program: Command, setExitCode: SetExitCode): void {
  const migrate = program.command('migrate').description('run and steer a live migration to the policy in force');
  for (const action of migrateActions) {
    withAccess(
      migrate
        .command(action)
        .description(migrateHelp[action])
        .option('--json', 'one JSON object on stdout (the status)')
        .option('--wait', 'follow it until it rests (the default on a terminal)')
        .addOption(new Option('--batch-size <n>', 'users per batch').argParser(parsePositiveInt))
        .addOption(
          new Option('--rate <n>', 'rows per second the copy may import (0: no cap)').argParser(parseNonNegativeInt),
        )
        .addOption(
          new Option(
            '--services <list>',
            'start: services to move, in order (default shop,account,messaging,cloud)',
          ).argParser(parseServices),
        ),
    ).action(async (o) => {
      const wait = Boolean(o.wait) || (!o.json && process.stderr.isTTY === true);
      setExitCode(
        await runMigrate(accessOf(o), action, {
          json: Boolean(o.json),
          wait,
          batchSize: o.batchSize,
          rate: o.rate,
          services: o.services,
        }),
      );
    });
  }
}

function addDemo(program: Command, setExitCode: SetExitCode): void {
  program
    .command('demo')
    .description('replay the 2014 scenario, before → phase1 → phase2 → phase3, under live traffic from every market')
    .option('--json', 'one JSON object on stdout')
    .addOption(
      new Option('--users-per-market <n>', 'users registered per market').default(4).argParser(parsePositiveInt),
    )
    .option('--data <dir>', 'keep the data in this folder (default: a temporary one, removed at the end)')
    .action(async (o) => {
      const { runDemo } = await import('./demo-command.js');
      setExitCode(await runDemo({ json: Boolean(o.json), usersPerMarket: o.usersPerMarket, data: o.data }));
    });
}

function addBench(program: Command, setExitCode: SetExitCode): void {
  program
    .command('bench <name>')
    .description(
      'benchmarks that print their figures beside a baseline measured in the same run (api, migrate, audit, dashboard, flash-sale, photo-sync, latency)',
    )
    .option('--json', 'one JSON object on stdout')
    .option('--seconds <n>', 'api: seconds per measurement', '6')
    .addOption(new Option('--users <n>', 'migrate: users to move (default 1000)').argParser(parsePositiveInt))
    .addOption(
      new Option('--records <n>', 'migrate: records of ~1 KB per user (default 100)').argParser(parsePositiveInt),
    )
    .addOption(new Option('--batch-size <n>', 'migrate: users per batch (default 32)').argParser(parsePositiveInt))
    .addOption(
      new Option('--writes <n>', 'migrate: random writes per second during the move (default 200)').argParser(
        parseNonNegativeInt,
      ),
    )
    .addOption(
      new Option('--units <n>', 'flash-sale: the stock sold (default 100000), to 10% more buyers').argParser(
        parsePositiveInt,
      ),
    )
    .addOption(
      new Option(
        '--gateways <n>',
        'flash-sale: sell through 1, 2, … n `domicile up` processes sharing a PostgreSQL directory at --pg-url',
      ).argParser(parsePositiveInt),
    )
    .addOption(
      new Option(
        '--durability <mode>',
        'migrate, audit, flash-sale: SQLite durability of the regions (and of the sale ledger)',
      )
        .choices(['full', 'normal'])
        .default('full'),
    )
    .addOption(
      new Option('--store <backend>', 'migrate, api: where the regions rest')
        .choices(['sqlite', 'postgres'])
        .default('sqlite'),
    )
    .addOption(
      new Option(
        '--pg-url <url>',
        '--store postgres, flash-sale --gateways: the PostgreSQL server (each region a schema of its own)',
      ).default('postgres://postgres@127.0.0.1:5432/test'),
    )
    .addOption(new Option('--latency <file>', 'latency: the round trips to emulate (default: examples/latency.yaml)'))
    .action(async (name, o) => {
      // Loaded on demand: the load generator has no place in the start-up of `domicile up`,
      // and is a devDependency (see bench-packages.ts).
      try {
        const { runBench } = await import('./bench-command.js');
        setExitCode(
          await runBench(name, {
            json: Boolean(o.json),
            seconds: Number(o.seconds),
            users: o.users,
            records: o.records,
            batchSize: o.batchSize,
            writes: o.writes,
            durability: o.durability,
            store: o.store,
            pgUrl: o.pgUrl,
            units: o.units,
            gateways: o.gateways,
          }),
        );
      } catch (err) {
        throw explainMissingBenchPackage(err);
      }
    });
}
