/**
 * Inflating one gzip member into a buffer the caller owns and reuses.
 *
 * Why: node's zlib API returns every output in a new buffer, and on a worker every new page is
 * a page fault on first touch. Measured on the 2-core build VM: touching fresh memory costs
 * ~12 us per 4 KiB page, so a cold run that inflated the 21 MB benchmark environment into new
 * buffers (and read the tarball into new ones) took ~7,000 page faults, ~60-90 ms of CPU: more
 * than inflating itself (~45 ms). Inflating into one reused buffer takes ~200.
 *
 * How: node's own synchronous zlib loop (`processChunkSync` in lib/zlib.js, unchanged since
 * Node 10) drives the native handle of a zlib stream with `writeSync(flush, in, inOffset,
 * inLength, out, outOffset, outLength)` and reads what is left of the input and output from the
 * stream's `_writeState`; a native error destroys the stream at once (`errored`). That handle
 * is not public API: it is checked when first used (its shape, and a known member inflated and
 * compared), and when anything differs, the public `gunzipSync` is used instead (same checks,
 * same result, only a new buffer per member).
 *
 * zlib checks the member's own CRC-32 and length (gzip trailer); the caller checks that the
 * member inflated to exactly the length it records.
 */
import { constants, createGunzip, type Gunzip, gunzipSync, gzipSync } from 'node:zlib';

/** What node's zlib streams keep internally (lib/zlib.js); absent or different: not used. */
interface ZlibInternals {
  _handle?: { writeSync?: WriteSync };
  _writeState?: unknown;
}

/** zlib.reset() is documented for every zlib stream, but missing from @types/node's Gunzip. */
type ResettableGunzip = Gunzip & { reset?: () => void };

type WriteSync = (
  flush: number,
  input: Uint8Array,
  inOffset: number,
  inLength: number,
  output: Uint8Array,
  outOffset: number,
  outLength: number,
) => void;

export interface MemberGunzip {
  /**
   * The content of the gzip member `member`, which records `size` bytes: a view of a buffer
   * this object reuses (valid until the next call), or a new buffer. Throws when the member is
   * damaged or does not inflate to exactly `size` bytes.
   */
  inflate(member: Uint8Array, size: number): Buffer;
}

/** The gunzip to use: into a reused buffer where node's zlib handle allows it. */
export function memberGunzip(): MemberGunzip {
  const reusing = ReusingGunzip.create();
  return reusing && selfTest(reusing) ? reusing : new PublicGunzip();
}

export class PublicGunzip implements MemberGunzip {
  inflate(member: Uint8Array, size: number): Buffer {
    // maxOutputLength: a member inflating to more than it records stops there, not at out of
    // memory.
    const output = gunzipSync(member, {
      chunkSize: Math.max(64, size + 64),
      maxOutputLength: Math.max(1, size),
    });
    if (output.length !== size) throw sizeMismatch(output.length, size);
    return output;
  }
}

export class ReusingGunzip implements MemberGunzip {
  /** Room for one member's content and a little more, to see a member that holds more. */
  private output = Buffer.alloc(0);

  private constructor(
    private stream: ResettableGunzip,
    private write: WriteSync,
    private state: Uint32Array,
  ) {}

  /** Undefined when node's zlib stream does not look as expected. */
  static create(): ReusingGunzip | undefined {
    const stream: ResettableGunzip = createGunzip();
    // A native error destroys the stream, which would emit 'error' later: seen in `errored`.
    stream.on('error', () => {});
    const internals = stream as unknown as ZlibInternals;
    const handle = internals._handle;
    const state = internals._writeState;
    if (
      typeof handle?.writeSync !== 'function' ||
      !(state instanceof Uint32Array) ||
      state.length < 2 ||
      typeof stream.reset !== 'function' ||
      !('errored' in stream)
    ) {
      stream.close();
      return undefined;
    }
    return new ReusingGunzip(stream, handle.writeSync.bind(handle), state);
  }

  inflate(member: Uint8Array, size: number): Buffer {
    const room = size + 64;
    if (this.output.length < room) this.output = Buffer.allocUnsafe(room);
    this.stream.reset?.();
    this.write(constants.Z_FINISH, member, 0, member.length, this.output, 0, room);
    if (this.stream.errored) {
      const error = this.stream.errored;
      // The stream is destroyed: later members get a new one.
      const fresh = ReusingGunzip.create();
      if (fresh) {
        this.stream = fresh.stream;
        this.write = fresh.write;
        this.state = fresh.state;
      }
      throw error;
    }
    const produced = room - (this.state[0] as number);
    const inputLeft = this.state[1] as number;
    if (inputLeft !== 0) throw new Error(`${inputLeft} bytes follow the end of its gzip stream`);
    if (produced !== size) throw sizeMismatch(produced, size);
    return this.output.subarray(0, produced);
  }
}

function sizeMismatch(produced: number, size: number): Error {
  return new Error(
    `it inflates to ${produced > size ? 'more' : produced} bytes, not the ${size} it records`,
  );
}

const SAMPLE = Buffer.from('poncho: inflating into a reused buffer\n'.repeat(40));

/** Inflates a known member (and a damaged copy) and compares: the handle works as expected. */
function selfTest(gunzip: ReusingGunzip): boolean {
  try {
    const member = gzipOf(SAMPLE);
    if (!gunzip.inflate(member, SAMPLE.length).equals(SAMPLE)) return false;
    const damaged = Buffer.from(member);
    damaged[damaged.length - 8] = (damaged[damaged.length - 8] as number) ^ 1; // its CRC-32
    try {
      gunzip.inflate(damaged, SAMPLE.length);
      return false;
    } catch {
      // refused, as it must be
    }
    return gunzip.inflate(member, SAMPLE.length).equals(SAMPLE);
  } catch {
    return false;
  }
}

let sampleMember: Buffer | undefined;
function gzipOf(data: Buffer): Buffer {
  // Deflated once per process: a few tens of microseconds.
  sampleMember ??= gzipSync(data);
  return sampleMember;
}
