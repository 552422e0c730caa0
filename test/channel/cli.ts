/**
 * Builds the test channel (cached) and prints its folder; `--serve` serves it over HTTP on
 * 127.0.0.1 and prints the URL until interrupted; `--hostile DIR` writes the hostile channel.
 *
 *   npx tsx test/channel/cli.ts [--serve] [--port N] [--json]
 *   npx tsx test/channel/cli.ts --hostile DIR
 */
import { parseArgs } from 'node:util';
import { ensureTestChannel } from './cache.js';
import { buildHostileChannel } from './hostile.js';
import { serveChannel } from './serve.js';

const USAGE = `Usage: npx tsx test/channel/cli.ts [options]

Builds the poncho test conda channel (cached in test/.cache/channel/) and prints its folder.

Options:
  --serve          serve the channel on http://127.0.0.1:<port> until interrupted; prints the URL
  --port <number>  port for --serve (default: a free one)
  --hostile <dir>  write the hostile channel (broken packages for negative tests) into <dir>
  --json           print {"dir": ..., "url": ...} instead of plain lines
  -h, --help       show this help

Exit codes: 0 ok, 1 build failed, 2 wrong command line.`;

async function main(): Promise<number> {
  let options: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      options: {
        serve: { type: 'boolean', default: false },
        port: { type: 'string' },
        hostile: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  }
  try {
    options = parse();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const port = options.port === undefined ? 0 : Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    process.stderr.write(`--port must be a number from 0 to 65535, got ${options.port}\n`);
    return 2;
  }
  const dir = options.hostile
    ? (await buildHostileChannel(options.hostile)).dir
    : await ensureTestChannel();
  if (!options.serve) {
    process.stdout.write(options.json ? `${JSON.stringify({ dir })}\n` : `${dir}\n`);
    return 0;
  }
  const served = await serveChannel(dir, { port });
  process.stdout.write(
    options.json ? `${JSON.stringify({ dir, url: served.url })}\n` : `${dir}\n${served.url}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await served.close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `test channel: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
