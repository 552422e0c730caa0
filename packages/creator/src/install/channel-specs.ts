/**
 * Channel-qualified match specs, as conda, mamba and pixi read them:
 *   conda-forge::numpy, https://host/chan::pkg >=1, conda-forge/linux-64::pkg, * /noarch::pkg
 *   (without the space), numpy[channel=conda-forge], numpy[channel=x, subdir=noarch]
 * The package is pinned to that channel (and subdir): only that channel's records of the name
 * reach the solver, and the channel joins the channel list (after the others) if it was not in
 * it. The solver itself gets the spec without the channel part: rattler's parser would resolve
 * a channel name against the current directory, which its WebAssembly build cannot ask for.
 */
import { PonchoError } from '@poncho/core/errors';
import { resolveChannel } from './channels.js';
import { KNOWN_SUBDIRS } from './platform.js';

/** Where a pinned package may come from. */
export interface ChannelPin {
  /** The channel URL (resolved), or undefined for `*` (any channel, by priority). */
  url?: string;
  /** Only this subdir (`noarch`, `linux-64`, ...), if given. */
  subdir?: string;
  /** As written, for messages. */
  written: string;
}

export interface ChannelSpecs {
  /** The specs without their channel parts, for the solver. */
  specs: string[];
  /** Package name -> where it must come from. */
  pins: Map<string, ChannelPin>;
  /** Channels (as written) the specs name that the channel list may lack. */
  channels: string[];
}

const BRACKET = /\[([^\]]*)\]\s*$/;

/** Splits the channel parts off `specs`. */
export function splitChannelSpecs(specs: string[], channelAlias?: string): ChannelSpecs {
  const result: ChannelSpecs = { specs: [], pins: new Map(), channels: [] };
  for (const spec of specs) {
    let rest = spec.trim();
    let channelText: string | undefined;
    let subdir: string | undefined;
    const separator = rest.indexOf('::');
    if (separator >= 0) {
      channelText = rest.slice(0, separator).trim();
      rest = rest.slice(separator + 2).trim();
    }
    const bracket = BRACKET.exec(rest);
    if (bracket) {
      const kept: string[] = [];
      for (const part of splitBracket(bracket[1] ?? '')) {
        const match = /^\s*(\w+)\s*=\s*(.*?)\s*$/.exec(part);
        const key = match?.[1];
        const value = unquote(match?.[2] ?? '');
        if (key === 'channel') channelText = value;
        else if (key === 'subdir') subdir = value;
        else kept.push(part.trim());
      }
      rest = `${rest.slice(0, bracket.index).trimEnd()}${kept.length > 0 ? `[${kept.join(', ')}]` : ''}`;
    }
    result.specs.push(rest);
    if (channelText === undefined && subdir === undefined) continue;
    if (channelText !== undefined) {
      // `channel/subdir`: a known platform as the last part is the subdir.
      const last = channelText.split('/').pop() ?? '';
      if (KNOWN_SUBDIRS.has(last)) {
        subdir ??= last;
        channelText = channelText.slice(0, -(last.length + 1)) || '*';
      }
    }
    if (channelText === '') {
      throw new PonchoError('ERR_SPEC_INVALID', `empty channel in the spec "${spec}"`, {
        hint: 'Write it as CHANNEL::PACKAGE, e.g. conda-forge::numpy.',
      });
    }
    const name = specName(rest);
    const any = channelText === undefined || channelText === '*';
    const url = any ? undefined : resolveChannel(channelText as string, channelAlias)[0]?.url;
    const pin: ChannelPin = {
      written: spec,
      ...(url ? { url } : {}),
      ...(subdir ? { subdir } : {}),
    };
    const earlier = result.pins.get(name);
    if (earlier && (earlier.url !== pin.url || earlier.subdir !== pin.subdir)) {
      throw new PonchoError(
        'ERR_SPEC_INVALID',
        `${name} is pinned to two channels: "${earlier.written}" and "${spec}"`,
        { hint: 'Name one channel for a package.' },
      );
    }
    result.pins.set(name, pin);
    if (!any && channelText && !result.channels.includes(channelText)) {
      result.channels.push(channelText);
    }
  }
  return result;
}

/** The package name of a plain match spec (lower case). */
function specName(spec: string): string {
  const end = spec.search(/[\s=<>!~[(,;|*@]/);
  return (end === -1 ? spec : spec.slice(0, end)).toLowerCase();
}

/** `a=1, b='x,y'` -> its parts, commas inside quotes kept. */
function splitBracket(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | undefined;
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === '"' || char === "'") quote = char;
    else if (char === ',') {
      parts.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  if (current.trim()) parts.push(current);
  return parts;
}

function unquote(value: string): string {
  return /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
}
