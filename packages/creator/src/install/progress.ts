/**
 * Progress of downloads and extraction: one line redrawn in place when the logger is
 * interactive (stderr is a TTY), nothing otherwise.
 */
import type { Logger } from '@poncho/core/log';

export interface Progress {
  phase(name: string, total: number, totalBytes?: number): void;
  bytes(count: number): void;
  done(): void;
  finish(): void;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function createProgress(
  logger: Logger,
  stream: NodeJS.WritableStream = process.stderr,
): Progress {
  if (!logger.interactive) return { phase() {}, bytes() {}, done() {}, finish() {} };
  let name = '';
  let total = 0;
  let finished = 0;
  let totalBytes = 0;
  let seenBytes = 0;
  let lastDraw = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const bytesPart = totalBytes > 0 ? `, ${mb(seenBytes)} / ${mb(totalBytes)}` : '';
    stream.write(`\r\u001b[K${name} ${finished}/${total} packages${bytesPart}`);
  };
  return {
    phase(phaseName, phaseTotal, phaseBytes = 0) {
      if (name) stream.write('\n');
      name = phaseName;
      total = phaseTotal;
      finished = 0;
      totalBytes = phaseBytes;
      seenBytes = 0;
      draw(true);
    },
    bytes(count) {
      seenBytes += count;
      draw();
    },
    done() {
      finished += 1;
      draw(finished === total);
    },
    finish() {
      if (name) stream.write('\n');
      name = '';
    },
  };
}
