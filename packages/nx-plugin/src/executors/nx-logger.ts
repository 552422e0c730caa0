/**
 * A @poncho/core Logger that writes through Nx's logger, so the libraries' messages are
 * recorded by Nx with the task output (and replayed on cache hits). Never interactive: progress
 * lines redrawn in place would end up in the recorded output.
 */

import type { Logger, LogLevel } from '@poncho/core/log';
import { logger as nxLogger } from '../nx.js';

const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** `level` applies unless Nx runs verbosely (--verbose), which shows everything. */
export function createNxLogger(level: LogLevel): Logger {
  const logger: Logger = {
    level: process.env.NX_VERBOSE_LOGGING === 'true' ? 'debug' : level,
    interactive: false,
    error(message) {
      if (rank[logger.level] >= rank.error) nxLogger.error(message);
    },
    warn(message) {
      if (rank[logger.level] >= rank.warn) nxLogger.warn(message);
    },
    info(message) {
      if (rank[logger.level] >= rank.info) nxLogger.info(message);
    },
    debug(message) {
      if (rank[logger.level] >= rank.debug) nxLogger.info(message);
    },
  };
  return logger;
}
