import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgress } from '../dist/install/progress.js';

/** A logger that is not on a terminal (as in CI), recording its info lines. */
function logLogger(level: 'info' | 'warn' = 'info') {
  const lines: string[] = [];
  const logger = {
    level,
    interactive: false,
    error() {},
    warn() {},
    info: (message: string) => lines.push(message),
    debug() {},
  };
  return { logger, lines };
}

describe('progress when stderr is not a terminal', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('prints a line every interval while a phase runs, also when no byte arrives', () => {
    const { logger, lines } = logLogger();
    const progress = createProgress(logger, { intervalMs: 5000 });
    progress.phase('downloading', 2, 20e6);
    vi.advanceTimersByTime(4999);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(1);
    progress.bytes(5e6);
    progress.done();
    vi.advanceTimersByTime(5000); // stalled: still a line
    expect(lines).toEqual([
      'downloading 0/2 packages, 0.0 MB / 20.0 MB',
      'downloading 1/2 packages, 5.0 MB / 20.0 MB',
    ]);
    progress.done();
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(2);
  });

  it('says nothing for a phase shorter than the interval, or below the info level', () => {
    const quick = logLogger();
    const progress = createProgress(quick.logger, { intervalMs: 5000 });
    progress.phase('extracting', 1);
    progress.done();
    progress.finish();
    vi.advanceTimersByTime(60_000);
    expect(quick.lines).toEqual([]);
    const quiet = logLogger('warn');
    createProgress(quiet.logger, { intervalMs: 10 }).phase('downloading', 3);
    vi.advanceTimersByTime(1000);
    expect(quiet.lines).toEqual([]);
  });
});
