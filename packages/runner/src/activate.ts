/**
 * Activation without conda: the variables `conda activate` sets, then the command as argv.
 * Packages' `etc/conda/activate.d/*.sh` scripts (and poncho's data-section variables, written to
 * `etc/conda/activate.d/poncho-data.sh` by the packer) are shell, so when there are any, the
 * command runs as `/bin/sh -c '. script1; . script2; exec "$@"' sh command args...`: the
 * script paths are quoted into the string, the command's words are only ever arguments.
 */
import { readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Where bin/launch.sh parks NODE_EXTRA_CA_CERTS while the runner starts (Node 20 would spend
 * ~50 ms parsing the bundle); the command gets the caller's value back.
 */
export const PARKED_CA_CERTS = 'PONCHO_NODE_EXTRA_CA_CERTS';

/** The environment variables of the command: the caller's, activated for `prefix`. */
export function activatedEnv(
  prefix: string,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  if (env[PARKED_CA_CERTS] !== undefined) {
    env.NODE_EXTRA_CA_CERTS = env[PARKED_CA_CERTS];
    delete env[PARKED_CA_CERTS];
  }
  delete env.PYTHONPATH;
  delete env.PYTHONHOME;
  const bin = join(prefix, 'bin');
  env.PATH = base.PATH ? `${bin}${delimiter}${base.PATH}` : bin;
  env.CONDA_PREFIX = prefix;
  env.CONDA_DEFAULT_ENV = prefix;
  return env;
}

/** The activation scripts of `prefix`, in the order conda sources them (sorted by name). */
export async function activationScripts(prefix: string): Promise<string[]> {
  const dir = join(prefix, 'etc', 'conda', 'activate.d');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.endsWith('.sh'))
    .sort()
    .map((name) => join(dir, name));
}

/**
 * The program and arguments to spawn for `command` after sourcing `scripts`. With
 * `ignoreSigint`, through sh too: a spawned child gets every signal back to its default
 * (libuv), and only `trap '' INT` before the exec keeps SIGINT ignored in the command.
 */
export function commandLine(
  scripts: string[],
  command: string[],
  options: { ignoreSigint?: boolean } = {},
): { file: string; args: string[] } {
  if (scripts.length === 0 && !options.ignoreSigint)
    return { file: command[0] as string, args: command.slice(1) };
  const steps = scripts.map((script) => `. ${shellQuote(script)}`);
  if (options.ignoreSigint) steps.unshift(`trap '' INT`);
  return { file: '/bin/sh', args: ['-c', `${steps.join('; ')}; exec "$@"`, 'sh', ...command] };
}

/** A POSIX shell single-quoted word. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}
