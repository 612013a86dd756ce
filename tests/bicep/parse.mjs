// Bicep syntax check: parses .bicep files with the tree-sitter-bicep grammar
// (its .wasm build, through web-tree-sitter) and reports every ERROR or
// MISSING node as file:line:col. It checks syntax only: no types, no scopes,
// no API versions (the Bicep CLI is not available offline).
//
// Usage: node tests/bicep/parse.mjs [file-or-directory ...]
// With no arguments it checks every .bicep file under infra/.
//
// One shim: tree-sitter-bicep 1.1.0 predates Bicep's `extension` statement
// (Bicep 0.30 renamed `provider` to `extension`), so a line that is exactly
// `extension <alias>` or `extension '<registry ref>' [as <alias>]` is blanked
// (replaced by spaces, so positions stay right) before parsing. Any other
// line starting with `extension` is left alone and reported if it is wrong.
// Exit status: 0 all files parse, 1 a syntax error, 2 usage or set-up error.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const require = createRequire(join(here, '..', 'package.json'));

const extensionLine = /^extension[ \t]+(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\n]+'(?:[ \t]+as[ \t]+[A-Za-z_][A-Za-z0-9_]*)?)[ \t\r]*(?:\/\/[^\n]*)?$/gm;

// blankExtensions hides the statements the grammar does not know yet.
function blankExtensions(source) {
  return source.replace(extensionLine, (line) => ' '.repeat(line.length));
}

function bicepFiles(path, out) {
  const st = statSync(path);
  if (st.isFile()) {
    out.push(path);
    return out;
  }
  for (const name of readdirSync(path).sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const child = join(path, name);
    if (statSync(child).isDirectory()) bicepFiles(child, out);
    else if (name.endsWith('.bicep')) out.push(child);
  }
  return out;
}

async function main(args) {
  let TreeSitter;
  let wasm;
  try {
    TreeSitter = await import(require.resolve('web-tree-sitter'));
    wasm = require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm');
  } catch (err) {
    console.error(`bicep-parse: npm packages missing (run npm ci in tests/): ${err.message}`);
    return 2;
  }
  const { Parser, Language } = TreeSitter;
  await Parser.init();
  const bicep = await Language.load(wasm);
  const parser = new Parser();
  parser.setLanguage(bicep);

  const roots = args.length > 0 ? args.map((a) => resolve(a)) : [join(repo, 'infra')];
  const files = [];
  for (const root of roots) {
    try {
      bicepFiles(root, files);
    } catch (err) {
      console.error(`bicep-parse: ${err.message}`);
      return 2;
    }
  }
  if (files.length === 0) {
    console.error(`bicep-parse: no .bicep files under ${roots.join(', ')}`);
    return 2;
  }

  let problems = 0;
  for (const file of files) {
    const source = readFileSync(file, 'utf8');
    const tree = parser.parse(blankExtensions(source));
    const shown = relative(process.cwd(), file) || file;
    const stack = [tree.rootNode];
    while (stack.length > 0) {
      const node = stack.pop();
      if (node.isMissing || node.type === 'ERROR') {
        const { row, column } = node.startPosition;
        const what = node.isMissing ? `MISSING ${node.type}` : 'ERROR';
        const text = node.text.split('\n')[0].slice(0, 60);
        console.log(`${shown}:${row + 1}:${column + 1}: ${what} near ${JSON.stringify(text)}`);
        problems++;
        if (node.type === 'ERROR') continue; // its children are part of the same error
      }
      if (!node.hasError && !node.isMissing) continue;
      for (let i = node.childCount - 1; i >= 0; i--) stack.push(node.child(i));
    }
    tree.delete();
  }
  parser.delete();
  if (problems > 0) {
    console.log(`bicep-parse: ${problems} syntax problem(s) in ${files.length} file(s)`);
    return 1;
  }
  console.log(`bicep-parse: ${files.length} file(s) parse cleanly`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
