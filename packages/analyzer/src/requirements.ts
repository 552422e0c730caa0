/**
 * Syntax checks for the package strings a user passes (`--extra-pkg`, `--pkg-mapping`): a conda
 * match spec or a pip requirement (PEP 508). Only the syntax is checked, so that a typo such as
 * `numpy>>1` is an error here rather than a spec the creator (or conda) rejects later; whether
 * the package exists is the solver's business.
 */

/** A conda package name: conda-forge uses lower case, digits, `-`, `_` and `.`. */
const CONDA_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
/** One version constraint: an optional operator and a version (wildcards allowed). */
const CONDA_CONSTRAINT = /^(?:==|!=|<=|>=|<|>|~=|=)?[0-9A-Za-z_*][0-9A-Za-z_.*+!-]*$/;
const CONDA_BUILD = /^[0-9A-Za-z_.*+!-]+$/;
/** A PEP 508 distribution name. */
const PIP_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const PIP_CONSTRAINT = /^(?:===|==|!=|<=|>=|~=|<|>)\s*[0-9A-Za-z_*][0-9A-Za-z_.*+!-]*$/;

export interface ParsedPackage {
  /** The package name (conda) or distribution name (pip). */
  name: string;
}

/**
 * Checks a conda match spec in the forms people write (`numpy`, `numpy>=1.24,<2`,
 * `numpy 1.26.*`, `numpy=1.26.4=py311h_0`, `numpy 1.26.4 py311h_0`, `conda-forge::numpy`).
 * Returns the name, or an explanation of what is wrong.
 */
export function parseCondaSpec(spec: string): ParsedPackage | string {
  let text = spec.trim();
  const channel = text.lastIndexOf('::');
  if (channel >= 0) {
    if (channel === 0) return 'a channel prefix needs a channel before "::"';
    text = text.slice(channel + 2);
  }
  // Bracket options (`numpy[version='>=1.24']`) are rare in hand-written specs: accepted as a
  // whole when balanced, the name before them checked.
  const bracket = text.indexOf('[');
  if (bracket >= 0) {
    if (!text.endsWith(']')) return 'unbalanced "[" in the match spec';
    text = text.slice(0, bracket);
  }
  const name = /^[^\s=<>!~,|]+/.exec(text)?.[0] ?? '';
  if (!CONDA_NAME.test(name)) return `"${name}" is not a conda package name`;
  // `numpy >= 1.24, < 2` means `numpy >=1.24,<2`.
  let rest = text
    .slice(name.length)
    .trim()
    .replace(/\s*([,|])\s*/g, '$1')
    .replace(/(==|!=|<=|>=|~=|<|>)\s+/g, '$1');
  if (!rest) return { name };
  let build: string | undefined;
  if (/^\s*=[^=]/.test(rest) && !/[<>!~,|]/.test(rest)) {
    // name=version[=build]
    const pieces = rest.slice(1).split('=');
    if (pieces.length > 2) return 'too many "=" (the form is name=version=build)';
    rest = pieces[0] ?? '';
    build = pieces[1];
  } else {
    const words = rest.split(/\s+/);
    if (words.length > 2) return 'too many words (the form is "name version build")';
    rest = words[0] ?? '';
    build = words[1];
  }
  if (build !== undefined && !CONDA_BUILD.test(build)) return `"${build}" is not a build string`;
  for (const alternative of rest.split('|')) {
    for (const constraint of alternative.split(',')) {
      if (!CONDA_CONSTRAINT.test(constraint.trim()))
        return `"${constraint.trim()}" is not a version constraint (e.g. >=1.24, 1.26.*, <2)`;
    }
  }
  return { name };
}

/**
 * Checks a pip requirement (PEP 508: `uproot`, `uproot==5.0.5`, `requests[socks]>=2`,
 * `pkg @ https://...`, with an optional `; marker`). Returns the name, or what is wrong.
 */
export function parsePipRequirement(requirement: string): ParsedPackage | string {
  const semicolon = requirement.indexOf(';');
  let text = (semicolon >= 0 ? requirement.slice(0, semicolon) : requirement).trim();
  if (semicolon >= 0 && !requirement.slice(semicolon + 1).trim())
    return 'an empty environment marker after ";"';
  const name = /^[^\s[(<>=!~;@]+/.exec(text)?.[0] ?? '';
  if (!PIP_NAME.test(name)) return `"${name}" is not a pip distribution name`;
  text = text.slice(name.length).trim();
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return 'unbalanced "[" in the extras';
    const extras = text.slice(1, close).split(',');
    if (!extras.every((extra) => PIP_NAME.test(extra.trim())))
      return `"${text.slice(0, close + 1)}" is not a list of extras`;
    text = text.slice(close + 1).trim();
  }
  if (!text) return { name };
  if (text.startsWith('@')) {
    return /^@\s*\S+$/.test(text) ? { name } : 'a URL is expected after "@"';
  }
  if (text.startsWith('(') && text.endsWith(')')) text = text.slice(1, -1);
  for (const constraint of text.split(',')) {
    if (!PIP_CONSTRAINT.test(constraint.trim()))
      return `"${constraint.trim()}" is not a version specifier (e.g. ==5.0.5, >=2,<3)`;
  }
  return { name };
}
