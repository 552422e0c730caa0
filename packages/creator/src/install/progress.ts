/**
 * Progress of downloads and extraction. On a terminal: one line redrawn in place. Otherwise
 * (CI logs, files): a plain line every few seconds while a phase is under way, so a long
 * download does not look like a hang, and nothing for phases that end sooner.
 */
import type { Logger } from '@poncho/core/log';

export interface Progress {
  phase(name: string, total: number, totalBytes?: number): void;
  bytes(count: number): void;
  done(): void;
  finish(): void;
}

export interface ProgressOptions {
  stream?: NodeJS.WritableStream;
  /** Plain output (not a terminal): one line per this many ms while a phase runs (5000). */
  intervalMs?: number;
  /** The clock of the terminal line's redraw limit (tests). */
  now?: () => number;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

const QUIET: Progress = { phase() {}, bytes() {}, done() {}, finish() {} };

export function createProgress(logger: Logger, options: ProgressOptions = {}): Progress {
  if (!logger.interactive) {
    return logger.level === 'info' || logger.level === 'debug'
      ? plainProgress(logger, options.intervalMs ?? 5000)
      : QUIET;
  }
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const state = new PhaseState();
  let lastDraw = 0;
  const draw = (force = false) => {
    const time = now();
    if (!force && time - lastDraw < 100) return;
    lastDraw = time;
    stream.write(`\r\u001b[K${state.text()}`);
  };
  return {
    phase(name, total, totalBytes = 0) {
      if (state.name) stream.write('\n');
      state.start(name, total, totalBytes);
      draw(true);
    },
    bytes(count) {
      state.seenBytes += count;
      draw();
    },
    done() {
      state.finished += 1;
      draw(state.finished === state.total);
    },
    finish() {
      if (state.name) stream.write('\n');
      state.name = '';
    },
  };
}

class PhaseState {
  name = '';
  total = 0;
  finished = 0;
  totalBytes = 0;
  seenBytes = 0;

  start(name: string, total: number, totalBytes: number): void {
    Object.assign(this, { name, total, finished: 0, totalBytes, seenBytes: 0 });
  }

  text(): string {
    const bytesPart = this.totalBytes > 0 ? `, ${mb(this.seenBytes)} / ${mb(this.totalBytes)}` : '';
    return `${this.name} ${this.finished}/${this.total} packages${bytesPart}`;
  }
}

/**
 * Plain lines for logs: every `intervalMs` while a phase runs (a timer, so that a stalled
 * download still shows where it is), none for a phase that ends sooner.
 */
function plainProgress(logger: Logger, intervalMs: number): Progress {
  const state = new PhaseState();
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    clearInterval(timer);
    timer = undefined;
  };
  return {
    phase(name, total, totalBytes = 0) {
      stop();
      state.start(name, total, totalBytes);
      if (total === 0) return;
      timer = setInterval(() => logger.info(state.text()), intervalMs);
      timer.unref();
    },
    bytes(count) {
      state.seenBytes += count;
    },
    done() {
      state.finished += 1;
      if (state.finished >= state.total) stop();
    },
    finish: stop,
  };
}
