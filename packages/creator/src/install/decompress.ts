/**
 * Decompressors for package archives. The `zstd` and `bzip2` command-line tools are 5-15x
 * faster than the pure-JavaScript decoders (measured in bench/create), so they are used when
 * they are on PATH; otherwise fzstd and unbzip2-stream. PONCHO_DECOMPRESSORS=js forces the
 * JavaScript decoders.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Duplex, Transform } from 'node:stream';
import { Decompress } from 'fzstd';
import unbzip2Stream from 'unbzip2-stream';

export type Compression = 'zstd' | 'bzip2';

const found = new Map<string, string | null>();

function onPath(command: string): string | null {
  const cached = found.get(command);
  if (cached !== undefined) return cached;
  let hit: string | null = null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      hit = join(dir, command);
      break;
    } catch {
      // not in this folder
    }
  }
  found.set(command, hit);
  return hit;
}

/** A zstd-decompressing Transform (fzstd's streaming decoder). */
function fzstdTransform(): Transform {
  let decoder: Decompress;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        decoder.push(chunk);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback) {
      try {
        decoder.push(new Uint8Array(0), true);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  decoder = new Decompress((data) => {
    stream.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  return stream;
}

export interface Decoder {
  stream: Duplex;
  /** Resolves when the decoder is done; rejects with the tool's own message if it failed. */
  finished(): Promise<void>;
  /** Which implementation runs (for benchmarks and messages). */
  implementation: string;
}

function external(path: string, name: string): Decoder {
  // zstd refuses frames with windows over 128 MB by default; conda packages may use more.
  const args = name === 'zstd' ? ['-dc', '--memory=2048MB'] : ['-dc'];
  const child = spawn(path, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exit = new Promise<number | null>((resolve) => {
    child.on('close', (code) => resolve(code));
    child.on('error', () => resolve(-1));
  });
  // Writes after the tool died (truncated input) would raise EPIPE: the exit status tells.
  child.stdin.on('error', () => undefined);
  // No kill on close: when the consumer fails, pipeline() destroys both ends, so the tool
  // sees EOF or EPIPE and exits by itself.
  const stream = Duplex.from({ writable: child.stdin, readable: child.stdout });
  return {
    stream,
    implementation: name,
    async finished() {
      const code = await exit;
      // null: ended by a signal (SIGPIPE after the consumer stopped): the consumer's error tells.
      if (code !== 0 && code !== null)
        throw new Error(`${name}: ${stderr.trim() || `exit status ${code}`}`);
    },
  };
}

export function decoder(compression: Compression): Decoder {
  const forceJs = process.env.PONCHO_DECOMPRESSORS === 'js';
  const tool = forceJs ? null : onPath(compression);
  if (tool) return external(tool, compression);
  const stream =
    compression === 'zstd' ? fzstdTransform() : (unbzip2Stream() as unknown as Transform);
  return {
    stream,
    implementation: compression === 'zstd' ? 'fzstd' : 'unbzip2-stream',
    finished: async () => undefined,
  };
}
