// Loads the EdgeWorker's modules under Node with the built-in shims in
// place. Static imports would be resolved before the hooks exist, so every
// EdgeWorker module is imported dynamically, after ./register.mjs.

import './register.mjs';

const bundle = new URL('../../', import.meta.url);

/** Import one of the EdgeWorker's files, e.g. load('main.js'). */
export function load(file) {
  return import(new URL(file, bundle).href);
}
