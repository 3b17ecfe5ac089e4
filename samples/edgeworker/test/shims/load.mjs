// Loads the EdgeWorker's modules under Node with the built-in shims in
// place: installs ./hooks.mjs (module.register(), Node ≥ 20.6 or 18.19),
// then imports EdgeWorker files dynamically — static imports would be
// resolved before the hooks exist.

import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);

const bundle = new URL('../../', import.meta.url);

/** Import one of the EdgeWorker's files, e.g. load('main.js'). */
export function load(file) {
  return import(new URL(file, bundle).href);
}
