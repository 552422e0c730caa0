/**
 * Ctrl-C on a real pseudo-terminal (Python's pty module), for the runner's signal tests: the
 * terminal sends SIGINT to its whole foreground process group, the runner and the command alike,
 * so a runner that also passed it on would deliver it twice.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3.11';

const DRIVER = `import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out, sent, end = b"", False, time.time() + 60
while time.time() < end:
    if select.select([fd], [], [], 0.05)[0]:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if b"ready" in out and not sent:
        time.sleep(0.3)
        os.write(fd, b"\\x03")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
print("exit", os.waitstatus_to_exitcode(status))
`;

/**
 * A command that prints "ready", counts the SIGINTs it gets until a grace period after the
 * first (Python runs a handler as soon as a signal arrives, so a second one would be counted),
 * prints "total N" and exits 3.
 */
export const COUNT_SIGINTS = [
  PYTHON,
  '-c',
  'import signal, sys, time\n' +
    'n = 0\n' +
    'def on_int(*_):\n    global n\n    n += 1\n' +
    'signal.signal(signal.SIGINT, on_int)\n' +
    'print("ready", flush=True)\n' +
    // Until the first Ctrl-C (however late a loaded machine delivers it), then a grace
    // period in which a second, forwarded SIGINT would be counted.
    'end = time.time() + 60\n' +
    'while n == 0 and time.time() < end:\n    time.sleep(0.02)\n' +
    'end = time.time() + 1.5\n' +
    'while time.time() < end:\n    time.sleep(0.02)\n' +
    'print("total", n, flush=True)\n' +
    'sys.exit(3)\n',
];

/**
 * Runs `argv` (an executable path and its arguments) on a pseudo-terminal, presses Ctrl-C once
 * after it prints "ready", and returns what the terminal showed followed by "exit N".
 */
export async function pressCtrlC(
  work: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const driver = join(work, 'ctrl_c_driver.py');
  await writeFile(driver, DRIVER);
  const driverEnv = { ...env };
  delete driverEnv.PYTHONHOME;
  delete driverEnv.PYTHONPATH;
  return execFileSync(PYTHON, [driver, ...argv], {
    env: driverEnv,
    encoding: 'utf8',
    timeout: 90_000,
  });
}
