/**
 * Channel names, URLs and paths -> channel locations. A name (`conda-forge`,
 * `conda-forge/label/dev`) goes through the channel alias; `defaults` is Anaconda's main and r
 * channels; `file://` URLs and plain paths are local folders read straight from disk.
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PonchoError } from '@poncho/core/errors';

export const DEFAULT_CHANNEL_ALIAS = 'https://conda.anaconda.org';

/** What `defaults` means (conda's default_channels on Linux and macOS). */
const DEFAULT_CHANNELS = [
  'https://repo.anaconda.com/pkgs/main',
  'https://repo.anaconda.com/pkgs/r',
];

export interface Channel {
  /** Canonical URL without a trailing slash: what the lock and conda-meta record. */
  url: string;
  /** For local channels, the folder on disk. */
  localPath?: string;
  /** What the user wrote, for messages. */
  source: string;
}

function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

function isPathLike(value: string): boolean {
  return (
    value.startsWith('/') ||
    value.startsWith('./') ||
    value.startsWith('../') ||
    value === '.' ||
    value === '..' ||
    value.startsWith('~/')
  );
}

/** Resolves one channel as written by a user (name, URL or path). */
export function resolveChannel(value: string, channelAlias = DEFAULT_CHANNEL_ALIAS): Channel[] {
  const source = value;
  const trimmed = value.trim();
  if (trimmed === '') {
    throw new PonchoError('ERR_CHANNEL_INVALID', 'empty channel name', {
      hint: 'Remove the empty channel entry.',
    });
  }
  if (/^https?:\/\//i.test(trimmed)) return [{ url: trimSlashes(trimmed), source }];
  if (/^file:\/\//i.test(trimmed)) {
    let localPath: string;
    try {
      localPath = fileURLToPath(trimmed);
    } catch (error) {
      throw new PonchoError('ERR_CHANNEL_INVALID', `invalid file URL for a channel: ${trimmed}`, {
        hint: 'Write it as file:///absolute/path/to/channel.',
        cause: error,
      });
    }
    return [localChannel(localPath, source)];
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    throw new PonchoError('ERR_CHANNEL_INVALID', `unsupported channel URL scheme: ${trimmed}`, {
      hint: 'Use https://, http://, file:// or a local path.',
    });
  }
  if (isPathLike(trimmed)) {
    const expanded = trimmed.startsWith('~/')
      ? resolve(homedir(), trimmed.slice(2))
      : resolve(trimmed);
    return [localChannel(expanded, source)];
  }
  if (trimmed === 'defaults') return DEFAULT_CHANNELS.map((url) => ({ url, source }));
  return [{ url: `${trimSlashes(channelAlias)}/${trimSlashes(trimmed)}`, source }];
}

function localChannel(path: string, source: string): Channel {
  const localPath = trimSlashes(resolve(path)) || '/';
  return { url: trimSlashes(pathToFileURL(localPath).href), localPath, source };
}

/**
 * `nodefaults` in an environment.yml tells conda not to add its default channels; it is not a
 * channel. We never add defaults, so it means nothing more here.
 */
export const NO_DEFAULTS = 'nodefaults';

/**
 * Resolves the channels in order, dropping duplicates (the first occurrence keeps priority)
 * and `nodefaults`.
 */
export function resolveChannels(written: string[], channelAlias?: string): Channel[] {
  const values = written.filter((value) => value.trim() !== NO_DEFAULTS);
  if (values.length === 0) {
    throw new PonchoError('ERR_NO_CHANNELS', 'no channels given', {
      hint: 'Name at least one channel (for example conda-forge, or a path to a local channel).',
    });
  }
  const seen = new Set<string>();
  const channels: Channel[] = [];
  for (const value of values) {
    for (const channel of resolveChannel(value, channelAlias)) {
      if (seen.has(channel.url)) continue;
      seen.add(channel.url);
      channels.push(channel);
    }
  }
  return channels;
}
