// Module resolution hooks: inside the EdgeWorker's own files, the bare
// specifiers of the EdgeWorkers built-ins ('crypto', 'encoding', 'log')
// resolve to the shims beside this file, not to Node's modules of the
// same name. Registered by ./load.mjs.

const SHIMS = new Set(['crypto', 'encoding', 'log']);
const shimDirectory = new URL('./', import.meta.url);
const bundleDirectory = new URL('../../', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL || '';
  if (SHIMS.has(specifier) && parent.startsWith(bundleDirectory) && !parent.startsWith(shimDirectory.href)) {
    return { url: new URL(`${specifier}.js`, shimDirectory).href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}
