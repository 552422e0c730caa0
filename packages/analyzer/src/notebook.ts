/**
 * Jupyter notebooks (`*.ipynb`) as Python source: the code cells in order, each after a
 * `# In[N]:` line (N counts the notebook's cells from 1, markdown ones included, as Jupyter
 * shows them), so that a line number in a message points into a recognisable cell. IPython's
 * own syntax is not Python and would hide nothing but syntax errors: line magics (`%time`),
 * shell escapes (`!pip install x`) and help (`np.sum?`) become `pass` (keeping the line count
 * and the indentation, so a block holding only a magic stays a block), and a cell magic
 * (`%%bash`, `%%writefile`) makes its cell something else than Python, so the cell is left out,
 * except the magics whose body is Python (`%%time`, `%%timeit`, `%%capture`...).
 */
import { PonchoError } from '@poncho/core/errors';

/** Cell magics whose body is Python code that runs in the kernel. */
const PYTHON_CELL_MAGICS = new Set(['time', 'timeit', 'capture', 'prun', 'memit', 'debug']);
const MAGIC_OR_SHELL = /^([ \t]*)(?:%|!)/;
const HELP = /^([ \t]*)[A-Za-z_][\w.]*\?\??[ \t]*$/;

interface NotebookCell {
  cell_type?: unknown;
  source?: unknown;
}

export function isNotebook(path: string): boolean {
  return path.endsWith('.ipynb');
}

/** The Python code of a notebook's bytes (UTF-8 JSON, nbformat 4; nbformat 3's worksheets too). */
export function notebookToPython(bytes: Uint8Array, file: string): string {
  let cells: NotebookCell[];
  try {
    const data = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
      cells?: NotebookCell[];
      worksheets?: Array<{ cells?: NotebookCell[] }>;
    };
    cells = data.cells ?? data.worksheets?.flatMap((sheet) => sheet.cells ?? []) ?? [];
    if (!Array.isArray(cells)) throw new Error('"cells" is not a list');
  } catch (error) {
    throw new PonchoError(
      'ERR_NOTEBOOK',
      `${file}: not a Jupyter notebook (${error instanceof Error ? error.message : String(error)})`,
      { hint: 'Check that the file is a notebook saved by Jupyter (JSON), or rename it.' },
    );
  }
  const out: string[] = [];
  for (const [index, cell] of cells.entries()) {
    if (cell?.cell_type !== 'code') continue;
    // nbformat 4 stores `source` as a string or a list of lines (each with its newline).
    const raw = cell.source ?? (cell as { input?: unknown }).input;
    const text = Array.isArray(raw) ? raw.join('') : typeof raw === 'string' ? raw : '';
    const lines = text.split(/\r\n|\r|\n/);
    const cellMagic = /^%%(\w+)/.exec(lines[0] ?? '');
    out.push(`# In[${index + 1}]:`);
    if (cellMagic && !PYTHON_CELL_MAGICS.has(cellMagic[1] as string)) {
      // Not Python: keep the line count, drop the content.
      for (const _ of lines) out.push('');
      continue;
    }
    // IPython only looks for magics where a statement starts: `% x` continuing `("%s"` in
    // brackets is the modulo operator.
    let open = 0;
    let continued = false;
    for (const line of lines) {
      const starts: boolean = open === 0 && !continued;
      const magic: RegExpExecArray | null = starts
        ? (MAGIC_OR_SHELL.exec(line) ?? HELP.exec(line))
        : null;
      out.push(magic ? `${magic[1]}pass` : line);
      if (!magic) open = openAfter(line, open);
      continued = !magic && line.endsWith('\\');
    }
  }
  return `${out.join('\n')}\n`;
}

/**
 * How many brackets are open after `line` (given `open` before it), roughly: strings on the
 * line and comments are skipped. Good enough to tell a statement's start; triple-quoted strings spanning lines are not tracked.
 */
function openAfter(line: string, open: number): number {
  let depth = open;
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') break;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if ((c === ')' || c === ']' || c === '}') && depth > 0) depth--;
  }
  return depth;
}
