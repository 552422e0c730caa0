/** A real @poncho/core logger at debug level whose lines a test can read. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@poncho/core/log';

export function captureLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', stream }), text: () => chunks.join('') };
}
