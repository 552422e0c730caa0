/**
 * A small leveled logger on stderr (stdout stays for data such as `-` output and --json).
 * Colour only when stderr is a TTY and NO_COLOR is unset.
 */

export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';

const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

export interface Logger {
  level: LogLevel;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  /** True when progress lines may be redrawn in place (stderr is a TTY and level >= info). */
  readonly interactive: boolean;
}

export interface LoggerOptions {
  /** Prefix of every line, usually the program name. */
  prefix?: string;
  level?: LogLevel;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY) && !process.env.NO_COLOR;
  const paint = (code: string, text: string) => (tty ? `\u001b[${code}m${text}\u001b[0m` : text);
  const prefix = options.prefix ? `${options.prefix}: ` : '';
  const logger: Logger = {
    level: options.level ?? 'info',
    get interactive() {
      return tty && rank[logger.level] >= rank.info;
    },
    error(message) {
      if (rank[logger.level] >= rank.error)
        stream.write(`${prefix}${paint('31', 'error:')} ${message}\n`);
    },
    warn(message) {
      if (rank[logger.level] >= rank.warn)
        stream.write(`${prefix}${paint('33', 'warning:')} ${message}\n`);
    },
    info(message) {
      if (rank[logger.level] >= rank.info) stream.write(`${prefix}${message}\n`);
    },
    debug(message) {
      if (rank[logger.level] >= rank.debug)
        stream.write(`${prefix}${paint('2', `debug: ${message}`)}\n`);
    },
  };
  return logger;
}
