// Installer (solve, download, extract, link): see src/install/ and README-install.md.
export * from './install/index.js';
