// Shim of the EdgeWorkers `log` built-in: a no-op unless EDGEWORKER_LOG is
// set, in which case messages go to stderr (never stdout, which sign_cli
// uses for its JSON).

import { format } from 'node:util';

export const logger = {
  log(message, ...values) {
    if (process.env.EDGEWORKER_LOG) process.stderr.write(`${format(message, ...values)}\n`);
  },
};
