/**
 * Relocating the files a manifest lists as they are extracted, in memory.
 *
 * poncho_package_create puts `.poncho/manifest.json` first in its tarballs, so by the time the
 * files it lists come out of the archive, the runner knows which to rewrite: each is rewritten
 * before it is first written, instead of being read back, written again to a temporary file and
 * renamed over itself afterwards (relocateWithManifest: a second file creation and eight more
 * calls per listed file, for hundreds of files in a real environment). The rules are the same
 * (@poncho/core/relocate), and so is the result but for the mtime, which stays the archived one
 * here, as for every other file.
 *
 * What this does not see is left to relocateWithManifest, as before: files the archive holds
 * before its manifest, listed paths that are not regular files (its error names them), and any
 * tarball whose manifest is not where poncho writes it. A second manifest in one archive is
 * refused as damage (with two, which one counts would depend on when each was read).
 */
import { PonchoError } from '@poncho/core/errors';
import { MANIFEST_PATH, type ManifestData as Manifest } from '@poncho/core/manifest-reader';
import { replaceBinaryPrefix, replaceTextPrefix } from '@poncho/core/relocate';
import { RunnerExitCode } from './exit-codes.js';
import type { ContentRewriter } from './extract.js';
import { checkBinaryRoom, parseManifest, relocationFailed } from './relocation.js';

type ManifestFile = Manifest['files'][number];

export class RelocationWhileExtracting implements ContentRewriter {
  /** The manifest, once the extraction met it. */
  manifest: Manifest | undefined;
  /** The manifest's paths of the files rewritten here (whether they changed or not). */
  readonly done = new Set<string>();
  /** Of those, how many changed. */
  changed = 0;
  /** The listed files by the name the tar reader gives them (one character per byte). */
  private readonly listed = new Map<string, ManifestFile>();

  /**
   * @param prefix Where the environment will live.
   * @param source The tarball, for messages.
   */
  constructor(
    private readonly prefix: string,
    private readonly source: string,
  ) {}

  wantsWhole(path: string): boolean {
    return path === MANIFEST_PATH || this.listed.has(path);
  }

  rewrite(path: string, content: Buffer): Buffer {
    if (path === MANIFEST_PATH) {
      this.takeManifest(content);
      return content;
    }
    const file = this.listed.get(path) as ManifestFile;
    let patched: Buffer;
    try {
      patched =
        file.mode === 'binary'
          ? replaceBinaryPrefix(content, file.placeholder, this.prefix)
          : replaceTextPrefix(content, file.placeholder, this.prefix);
    } catch (error) {
      throw relocationFailed(file.path, error);
    }
    if (!this.done.has(file.path) && patched !== content) this.changed++;
    this.done.add(file.path);
    return patched;
  }

  /**
   * Reads the manifest and checks that binary files have room for the prefix: a prefix too
   * long fails here, before any listed file is written.
   */
  private takeManifest(content: Buffer): void {
    if (this.manifest !== undefined) {
      // Which one would count? poncho_package_create writes one; tar would keep the last.
      throw new PonchoError(
        'ERR_ENV_ARCHIVE',
        `the environment tarball ${this.source} holds ${MANIFEST_PATH} twice`,
        { hint: 'The tarball is damaged; build it again.', exitCode: RunnerExitCode.environment },
      );
    }
    const manifest = parseManifest(content.toString('utf8'), this.source);
    checkBinaryRoom(manifest, this.prefix);
    for (const file of manifest.files) {
      // The reader's names are byte strings; the manifest's are text (UTF-8 in the file).
      this.listed.set(Buffer.from(file.path, 'utf8').toString('latin1'), file);
    }
    this.manifest = manifest;
  }
}
