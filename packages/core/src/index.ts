export * from './cli.js';
export * from './errors.js';
export * from './fs.js';
export * from './log.js';
export * from './spec.js';
