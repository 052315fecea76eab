// Runs a wasip1 module under node's WASI (V8), with DIR preopened as DIR:
// node --no-warnings wasi.mjs MODULE.wasm DIR
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import { argv } from 'node:process';

const [module, dir] = argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: ['wcfiles', dir], preopens: { [dir]: dir } });
const wasm = await WebAssembly.compile(await readFile(module));
const instance = await WebAssembly.instantiate(wasm, wasi.getImportObject());
wasi.start(instance);
