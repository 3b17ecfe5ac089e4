// Rough CPU cost of the two event handlers under Node, per request, with
// warm key caches (as in a reused EdgeWorkers isolate). Indicative only:
// EdgeWorkers runs V8 too, but on other hardware; the basic tier allows
// 10 ms of CPU per event handler. Not a test — run it by hand:
//
//   node bench/cpu.mjs

import { createIdp, settingsFor } from '../test/shims/idp.js';
import { load } from '../test/shims/load.mjs';
import { MockRequest } from '../test/shims/request.js';

const { createEdgeClaims } = await load('edgeclaims.js');
const { compilePolicy } = await load('policy.js');
const routePolicy = (await load('route-policy.js')).default;

const ROUNDS = 2000;
const variables = {
  PMUSER_EDGECLAIMS_KEY: `hex:${'ab'.repeat(32)}`,
  PMUSER_EDGECLAIMS_KEY_ID: 'bench',
};

for (const alg of ['RS256', 'ES256']) {
  const idp = await createIdp({ alg });
  const edge = createEdgeClaims({ settings: settingsFor(), jwks: idp.jwks, policy: compilePolicy(routePolicy) });
  const token = await idp.token({ groups: Array.from({ length: 20 }, (_, i) => `group-${i}`) });
  const timings = { onClientRequest: 0n, onOriginRequest: 0n };
  for (let round = 0; round < ROUNDS + 100; round += 1) {
    const request = new MockRequest({ path: '/orders/a%2Fb', query: 'x=1', headers: { Authorization: `Bearer ${token}` }, variables: { ...variables } });
    let start = process.hrtime.bigint();
    await edge.onClientRequest(request);
    const client = process.hrtime.bigint() - start;
    start = process.hrtime.bigint();
    await edge.onOriginRequest(request);
    const originTime = process.hrtime.bigint() - start;
    if (round >= 100) {
      timings.onClientRequest += client;
      timings.onOriginRequest += originTime;
    }
  }
  const ms = (total) => (Number(total) / ROUNDS / 1e6).toFixed(3);
  console.log(`${alg} ID token: onClientRequest ${ms(timings.onClientRequest)} ms, onOriginRequest (hmac-sha256) ${ms(timings.onOriginRequest)} ms`);
}
