#!/usr/bin/env node
/**
 * `rxkv`: the command line. Data goes to stdout (JSON, NDJSON), progress and errors to stderr.
 * Exit codes: 0 done, 1 an error (its `RxkvError` code and what to do on stderr), 2 a usage error.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { createRequire } from 'node:module';
import { ErrorCode, RxkvError } from '../errors.js';
import { backup, backupServer, dump, get, load, restore, scan, serveDirectory, stats, verifyDirectory, watch } from './commands.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

const integer = (text: string): number => {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError('expected a non-negative integer.');
  return value;
};
const list = (text: string): string[] => text.split(',').filter((item) => item !== '');
const origins = (text: string, previous: string[]): string[] => {
  let origin: string | undefined;
  try {
    origin = new URL(text).origin;
  } catch {
    origin = undefined;
  }
  if (origin !== text) throw new InvalidArgumentError('expected an origin such as https://app.example.com (a scheme, a host, a port if not the default; no path).');
  return [...previous, text];
};

// A reader that stopped reading (`rxkv dump DIR | head`) ends the command, not as a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command('rxkv')
  .description('Look into, copy and serve rxkv databases.')
  .version(version)
  .showHelpAfterError()
  .exitOverride();

program
  .command('stats')
  .description('tables, record counts, approximate bytes, the last seq and its time, the history id')
  .argument('<dir>', 'the database directory')
  .option('--json', 'one JSON object, for machines')
  .action((dir: string, options: { json?: boolean }) => stats(dir, options.json === true));

program
  .command('get')
  .description('a record, as JSON')
  .argument('<dir>', 'the database directory')
  .argument('<table>')
  .argument('<key>')
  .action((dir: string, table: string, key: string) => get(dir, table, key));

program
  .command('scan')
  .description('records in key order, as NDJSON lines of { key, value }')
  .argument('<dir>', 'the database directory')
  .argument('<table>')
  .option('--prefix <prefix>', 'keys starting with this')
  .option('--gt <key>')
  .option('--gte <key>')
  .option('--lt <key>')
  .option('--lte <key>')
  .option('--limit <n>', 'at most this many records', integer)
  .option('--reverse', 'descending key order')
  .action((dir: string, table: string, options: Parameters<typeof scan>[2]) => scan(dir, table, options));

program
  .command('dump')
  .description('every record (or those of some tables) as NDJSON, consistent at one seq: a header line, then one record a line')
  .argument('<dir>', 'the database directory')
  .option('--tables <names>', 'only these tables, comma-separated', list)
  .option('--out <file>', 'write to this file (complete once renamed into place) instead of stdout')
  .action((dir: string, options: { tables?: string[]; out?: string }) => dump(dir, options));

program
  .command('load')
  .description('records from a dump (or plain { table, key, value } lines): into a new directory, a dump becomes a database with every record\'s metadata, all or nothing; into an existing one, durable batches of 1,000 lines')
  .argument('<dir>', 'the database directory')
  .argument('[file]', 'the NDJSON file (- or none: stdin)', '-')
  .option('--dry-run', 'only check the lines')
  .action((dir: string, file: string, options: { dryRun?: boolean }) => load(dir, file, options));

program
  .command('backup')
  .description('a consistent copy of a database not open elsewhere (DIR DEST), or of a running server (--url URL DEST), into a new or empty directory')
  .argument('<dir>', 'the database directory (with --url: where the copy goes)')
  .argument('[dest]', 'where the copy goes')
  .option('--url <url>', "a running server's URL, ws://HOST:PORT/PATH: its authorize must allow { action: 'admin' }")
  .option('--token <token>', 'the token the server asks for')
  .action((dir: string, dest: string | undefined, options: { url?: string; token?: string }) => {
    if (options.url !== undefined) {
      if (dest !== undefined) throw new InvalidArgumentError('with --url, give only the destination: rxkv backup --url URL DEST.');
      return backupServer(options.url, dir, options.token);
    }
    if (dest === undefined) throw new InvalidArgumentError('give the database and the destination: rxkv backup DIR DEST.');
    return backup(dir, dest);
  });

program
  .command('restore')
  .description('a database from a backup, into a new or empty directory, with a history of its own')
  .argument('<backup>', 'the backup directory')
  .argument('<dir>', 'where the database goes')
  .action((from: string, dir: string) => restore(from, dir));

program
  .command('verify')
  .description('checks that every record decodes and no acknowledged commit is missing, without opening for writes')
  .argument('<dir>', 'the database directory')
  .action((dir: string) => verifyDirectory(dir));

program
  .command('serve')
  .description('serves the database to rxkv/client replicas until SIGINT or SIGTERM')
  .argument('<dir>', 'the database directory (created if absent)')
  .option('--host <host>', 'the interface to listen on', '127.0.0.1')
  .option('--port <port>', 'the port (0: a free one)', integer, 8080)
  .option('--token <token>', 'the token clients must present; whoever presents it may also back the database up (--url)')
  .option('--no-inspector', 'do not serve the inspector page (served at /inspector/ by default)')
  .option('--origin <origin>', 'a web origin whose pages may connect (repeatable; besides the inspector\'s own, no other browser page may)', origins, [])
  .action((dir: string, options: Parameters<typeof serveDirectory>[1]) => serveDirectory(dir, options));

program
  .command('watch')
  .description("a running server's live changes, as NDJSON lines of { table, key, op, seq, ts, patch }, until interrupted")
  .argument('<url>', 'the server, ws://HOST:PORT/PATH')
  .option('--table <table>', 'only this table (default: every table)')
  .option('--prefix <prefix>', 'keys starting with this')
  .option('--ops <ops>', 'only these ops (new, merge, delete), comma-separated', list)
  .option('--token <token>', 'the token the server asks for')
  .action((url: string, options: Parameters<typeof watch>[1]) => watch(url, options));

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof InvalidArgumentError) {
    process.stderr.write(`rxkv: ${error.message}\n`);
    process.exitCode = 2;
  } else if (error instanceof CommanderError) {
    // --help and --version end here too, with code 0.
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (error instanceof RxkvError) {
    process.stderr.write(`rxkv: ${error.code}: ${error.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`rxkv: ${ErrorCode.INTERNAL}: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
