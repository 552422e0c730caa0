// One solve in a fresh process (for bench/solve/run.ts): prints {ms, maxRssMB, packages}.
// argv: <creator dist index.js> <cacheDir> <channel> <spec>...
const [entry, cacheDir, channel, ...specs] = process.argv.slice(2);
const { solve } = await import(entry);
const started = performance.now();
const lock = await solve(specs, { channels: [channel], cacheDir, platform: 'linux-64' });
const ms = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({
    ms,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    packages: lock.packages.map((p) => `${p.name}=${p.version}`),
  })}\n`,
);
