// edgeclaims EdgeWorker: validates the user's OIDC ID token, strips client
// copies of the identity headers, applies the origin's route policy, and
// signs the identity for the origin (spec/signed-headers.md §1, or the JWS
// form of §2). The work happens in edgeclaims.js; this file wires the
// bundled data into the two event handlers EdgeWorkers calls.

import { createEdgeClaims } from './edgeclaims.js';
import jwks from './jwks.js';
import { compilePolicy } from './policy.js';
import routePolicy from './route-policy.js';
import settings from './settings.js';

// Built once per isolate, at initialization: configuration mistakes fail the
// activation rather than a request, and requests only look things up.
const edge = createEdgeClaims({ settings, jwks, policy: compilePolicy(routePolicy) });

export async function onClientRequest(request) {
  return edge.onClientRequest(request);
}

export async function onOriginRequest(request) {
  return edge.onOriginRequest(request);
}
