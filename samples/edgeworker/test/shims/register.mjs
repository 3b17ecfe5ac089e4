// Import this module before the EdgeWorker's code is loaded (dynamically):
// it installs ./hooks.mjs so 'crypto', 'encoding' and 'log' resolve to the
// shims. module.register() exists from Node 20.6 and 18.19.

import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
