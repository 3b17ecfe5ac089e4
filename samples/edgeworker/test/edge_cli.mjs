// Drives the EdgeWorker from another language's test suite (tests/test_edgeworker.py):
//
//   node test/edge_cli.mjs <spec.json | ->      (a spec, or a list of specs)
//
// spec.command "sign": a test identity provider issues an ID token for
// spec.claims; the request spec.request goes through onClientRequest and
// onOriginRequest with the PMUSER variables spec.variables at time spec.now;
// prints { response, headers } — the refusal, or the headers the origin
// receives.
// spec.command "decide": evaluates spec.cases ([{ claims|null, method, path }])
// against the exported policy spec.policy; prints the decisions.
//
// Without an argument it does nothing: `node --test test/` also loads this
// file, as it loads every module under test/.

import { readFileSync } from 'node:fs';
import { createIdp, settingsFor } from './shims/idp.js';
import { load } from './shims/load.mjs';
import { MockRequest } from './shims/request.js';

const { createEdgeClaims } = await load('edgeclaims.js');
const { compilePolicy } = await load('policy.js');

// Everything authenticated, nothing else required: the signing tests are
// about the wire format, the route policy has its own command.
const OPEN_POLICY = {
  format: 'edgeclaims-policy',
  version: 2,
  roles: [],
  permissions: [],
  routes: [],
  public_paths: [],
  default: { kind: 'authenticated', roles: [], permissions: [] },
};

async function sign(spec) {
  const idp = await createIdp({ alg: 'RS256' });
  const now = spec.now;
  const edge = createEdgeClaims({
    settings: settingsFor(spec.settings || {}),
    jwks: idp.jwks,
    policy: compilePolicy(spec.policy || OPEN_POLICY),
    clock: () => now,
  });
  const headers = { ...(spec.request.headers || {}) };
  if (spec.claims) headers.Authorization = `Bearer ${await idp.token(spec.claims, { now })}`;
  const request = new MockRequest({ ...spec.request, headers, variables: spec.variables || {} });
  await edge.onClientRequest(request);
  if (!request.response) await edge.onOriginRequest(request);
  const response = request.response && { status: request.response.status, body: JSON.parse(request.response.body) };
  const origin = request.originHeaders();
  delete origin.Authorization; // the ID token is not part of the result
  return { response, headers: origin };
}

function decide(spec) {
  const policy = compilePolicy(spec.policy);
  return spec.cases.map(({ claims, method, path }) => {
    const decision = policy.decide(claims ?? null, method, path);
    return {
      outcome: decision.outcome,
      roles: [...decision.roles].sort(),
      permissions: [...decision.permissions].sort(),
      route: decision.route,
    };
  });
}

async function run(spec) {
  const commands = { sign, decide };
  if (!commands[spec.command]) throw new Error(`unknown command ${spec.command}`);
  return commands[spec.command](spec);
}

const source = process.argv[2];
if (source) {
  // One spec, or a list of specs run in order (one Node start for many cases).
  const input = JSON.parse(readFileSync(source === '-' ? 0 : source, 'utf8'));
  const output = [];
  for (const spec of Array.isArray(input) ? input : [input]) output.push(await run(spec));
  process.stdout.write(`${JSON.stringify(Array.isArray(input) ? output : output[0])}\n`);
}
