export * from './errors.js';
export * from './cli.js';
export * from './log.js';
export * from './fs.js';
export * from './spec.js';
