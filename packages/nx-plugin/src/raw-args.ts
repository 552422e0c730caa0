/**
 * Nx parses the nx command line before an executor or generator sees it, numbers included:
 * `--pythonVersion=3.10` arrives as 3.1 and `-- 3.10` as 3.1. Schemas that ask for
 * `$default: {"$source": "unparsed"}` get the words as typed; these functions read the typed
 * text back from them.
 */

/**
 * The raw text of an option Nx parsed as a number: `--pythonVersion=3.10` arrives as 3.1.
 * Nx hands executors the words of the command line as typed (`unparsed`, from the schema's
 * `$default: {"$source": "unparsed"}`); a number that came from a file stays as it was.
 */
export function rawOption(
  unparsed: unknown,
  name: string,
  value: string | number | undefined,
): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  const words = Array.isArray(unparsed) ? unparsed.map(String) : [];
  const kebab = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  for (let i = words.length - 1; i >= 0; i -= 1) {
    const word = words[i] as string;
    for (const flag of [`--${name}`, `--${kebab}`]) {
      if (word.startsWith(`${flag}=`)) return word.slice(flag.length + 1);
      if (word === flag && words[i + 1] !== undefined) return words[i + 1];
    }
  }
  return String(value);
}

/**
 * Positional words (after `--`) as typed: Nx parses them too (`3.10` becomes 3.1), so numbers
 * are taken back from the unparsed words, in order.
 */
export function rawPositionals(positionals: unknown, unparsed: unknown): string[] {
  if (!Array.isArray(positionals)) return [];
  const words = Array.isArray(unparsed) ? unparsed.map(String) : [];
  let from = 0;
  return positionals.map((value) => {
    if (typeof value === 'string') {
      const at = words.indexOf(value, from);
      if (at >= 0) from = at + 1;
      return value;
    }
    for (let i = from; i < words.length; i += 1) {
      const word = words[i] as string;
      if (!word.startsWith('-') && Number(word) === value) {
        from = i + 1;
        return word;
      }
    }
    return String(value);
  });
}

/**
 * A Python version option as typed: 3.10 stays "3.10". Generators get no `unparsed` words, but
 * run inside the `nx g` process, whose own argv holds them.
 */
export function pythonVersionText(
  value: string | number,
  unparsed: unknown = process.argv.slice(2),
): string {
  return rawOption(unparsed, 'pythonVersion', value) ?? String(value);
}
