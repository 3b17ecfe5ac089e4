// The two event handlers end to end: what a client sends, what the origin
// receives. Header stripping in every spelling, the route policy at the
// edge, the hand-over between onClientRequest and onOriginRequest, both
// wire formats, and configuration mistakes that must fail closed.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { createIdp, settingsFor } from './shims/idp.js';
import { load } from './shims/load.mjs';
import { MockRequest } from './shims/request.js';

const NOW = 1_795_731_572;
const SECRET_HEX = '101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f';
const VARIABLES = {
  PMUSER_EDGECLAIMS_KEY: `hex:${SECRET_HEX}`,
  PMUSER_EDGECLAIMS_KEY_ID: '2026-11',
};

const { createEdgeClaims, stripIdentityHeaders, routePath } = await load('edgeclaims.js');
const { compilePolicy } = await load('policy.js');
const routePolicy = (await load('route-policy.js')).default;

let idp;
let edge;

before(async () => {
  idp = await createIdp({ alg: 'ES256' });
  edge = createEdgeClaims({ settings: settingsFor(), jwks: idp.jwks, policy: compilePolicy(routePolicy), clock: () => NOW });
});

/** Run a request through onClientRequest and, unless refused, onOriginRequest. */
async function through({ claims, token, variables = VARIABLES, ...init } = {}) {
  const headers = { ...(init.headers || {}) };
  if (claims !== undefined) headers.Authorization = `Bearer ${token || (await idp.token(claims, { now: NOW }))}`;
  const request = new MockRequest({ ...init, headers, variables: { ...variables } });
  await edge.onClientRequest(request);
  if (!request.response) await edge.onOriginRequest(request);
  return request;
}

function code(request) {
  return request.response && JSON.parse(request.response.body).code;
}

/** Recompute the RFC 9421 HMAC from the origin-side view, independently of signing.js. */
function hmacVerifies(headers, { method = 'GET', authority = 'app.example.com', path, query = '' }) {
  const inner = headers['Signature-Input'].slice('edge='.length);
  const base = [
    `"@method": ${method}`,
    `"@authority": ${authority}`,
    `"@path": ${path}`,
    `"@query": ?${query}`,
    `"x-edge-claims": ${headers['X-Edge-Claims']}`,
    `"@signature-params": ${inner}`,
  ].join('\n');
  const expected = createHmac('sha256', Buffer.from(SECRET_HEX, 'hex')).update(base).digest('base64');
  return headers.Signature === `edge=:${expected}:`;
}

describe('client copies of identity headers are stripped', () => {
  const SPELLINGS = [
    'X-Edge-Claims', 'x-edge-claims', 'X_Edge_Claims', 'X-Edge_Claims', 'x_edge-claims',
    'Signature', 'Signature-Input', 'Signature_Input',
    'X-Edge-Jwt', 'X_EDGE_JWT',
    'X-Original-URL', 'X_Original_URL', 'x-original_url', 'X-Rewrite-URL', 'X_Rewrite_Url',
  ];

  test('every spelling is removed; other headers stay', () => {
    const headers = Object.fromEntries(SPELLINGS.map((name) => [name, 'forged']));
    const request = new MockRequest({ headers: { ...headers, Accept: 'text/html', 'X-Request-Id': 'r1' } });
    stripIdentityHeaders(request);
    assert.deepEqual(request.originHeaders(), { Accept: 'text/html', 'X-Request-Id': 'r1' });
  });

  test('on a public route, forged identity headers never reach the origin', async () => {
    const request = await through({ path: '/healthz', headers: { 'X-Edge-Claims': 'eyJzdWIiOiJyb290In0', X_Edge_Claims: 'x', Signature: 'edge=:AAAA:' } });
    assert.equal(request.response, null);
    assert.deepEqual(request.originHeaders(), {});
    assert.equal(request.getVariable('PMUSER_EDGECLAIMS_STATE'), 'anonymous');
  });

  test('with a valid token, the forged copies are replaced by the signed ones', async () => {
    const request = await through({ path: '/whoami', claims: {}, headers: { 'X-Edge-Claims': 'forged', 'X-Original-URL': '/admin' } });
    const headers = request.originHeaders();
    assert.notEqual(headers['X-Edge-Claims'], 'forged');
    assert.equal(headers['X-Original-URL'], undefined);
    assert.ok(hmacVerifies(headers, { path: '/whoami' }));
  });
});

describe('hand-over between onClientRequest and onOriginRequest', () => {
  test('a claims header that onClientRequest did not produce is not signed', async () => {
    // onClientRequest never ran (an EdgeWorkers error lets the request go on
    // without it): no state variable, so nothing is signed.
    const request = new MockRequest({ path: '/whoami', headers: { 'X-Edge-Claims': 'eyJzdWIiOiJyb290In0' }, variables: { ...VARIABLES } });
    await edge.onOriginRequest(request);
    assert.equal(request.response, null);
    assert.deepEqual(request.originHeaders(), {});
  });

  test('a claims header swapped after onClientRequest is not signed', async () => {
    const request = new MockRequest({
      path: '/whoami',
      headers: { Authorization: `Bearer ${await idp.token({}, { now: NOW })}` },
      variables: { ...VARIABLES },
    });
    await edge.onClientRequest(request);
    request.setHeader('X-Edge-Claims', 'eyJzdWIiOiJyb290In0');
    await edge.onOriginRequest(request);
    assert.equal(request.getHeader('X-Edge-Claims'), null);
    assert.equal(request.getHeader('Signature'), null);
  });

  test('a state variable of "anonymous" signs nothing', async () => {
    const request = new MockRequest({ headers: { 'X-Edge-Claims': 'e30' }, variables: { ...VARIABLES, PMUSER_EDGECLAIMS_STATE: 'anonymous' } });
    await edge.onOriginRequest(request);
    assert.deepEqual(request.originHeaders(), {});
  });
});

describe('route policy at the edge (same decisions as the origin)', () => {
  test('anonymous on a protected route → 401 missing', async () => {
    const request = await through({ path: '/whoami' });
    assert.equal(request.response.status, 401);
    assert.equal(code(request), 'missing');
    assert.deepEqual(request.response.headers['WWW-Authenticate'], ['Bearer']);
  });

  test('anonymous on a public route → forwarded unsigned', async () => {
    const request = await through({ path: '/healthz' });
    assert.equal(request.response, null);
    assert.equal(request.getHeader('Signature'), null);
  });

  test('verified identity without the role → 403 forbidden', async () => {
    const request = await through({ path: '/admin/users', claims: { groups: ['staff'] } });
    assert.equal(request.response.status, 403);
    assert.equal(code(request), 'forbidden');
  });

  test('the role from a multi-valued groups claim → allowed and signed', async () => {
    const request = await through({ path: '/admin/users', claims: { groups: ['staff', 'okta-admins'] } });
    assert.equal(request.response, null);
    const claims = JSON.parse(Buffer.from(request.originHeaders()['X-Edge-Claims'], 'base64url'));
    assert.deepEqual(claims.groups, ['staff', 'okta-admins']);
  });

  test('percent-encoding cannot dodge a route', async () => {
    const request = await through({ path: '/%61dmin/users', claims: { groups: ['staff'] } });
    assert.equal(code(request), 'forbidden');
    assert.equal(routePath('/%61dmin/x%20y'), '/admin/x y');
  });

  test('a path or method with no single reading → 400 ambiguous_request, identity or not', async () => {
    const paths = [
      '/healthz/../admin/users',
      '/healthz/%2e%2e/admin',
      '/admin/..%2fhealthz',
      '/admin/%2E%2E/healthz',
      '/static/./admin',
      '//admin',
      '/admin%2f%2fusers',
      '/admin%5c..%5chealthz',
      '/admin/%ff',
    ];
    for (const path of paths) {
      for (const claims of [undefined, { groups: ['staff'] }, { groups: ['okta-admins'] }]) {
        const request = await through({ path, claims });
        assert.equal(request.response.status, 400, path);
        assert.equal(code(request), 'ambiguous_request', path);
        assert.equal(request.getHeader('Signature'), null, path);
      }
    }
    const lower = await through({ method: 'post', path: '/admin/users', claims: { groups: ['okta-admins'] } });
    assert.equal(code(lower), 'ambiguous_request');
  });

  test('claims larger than the origin accepts → 431', async () => {
    const groups = Array.from({ length: 400 }, (_, i) => `group-${String(i).padStart(4, '0')}-with-a-long-name`);
    const request = await through({ path: '/whoami', claims: { groups } });
    assert.equal(request.response.status, 431);
    assert.equal(code(request), 'too_large');
  });
});

describe('token sources', () => {
  test('two bearer tokens → 401 ambiguous', async () => {
    const token = await idp.token({}, { now: NOW });
    const request = new MockRequest({ path: '/whoami', headers: { Authorization: [`Bearer ${token}`, `Bearer ${token}`] } });
    await edge.onClientRequest(request);
    assert.equal(code(request), 'ambiguous');
  });

  test('two id_token cookies → 401 ambiguous', async () => {
    const token = await idp.token({}, { now: NOW });
    const request = new MockRequest({ path: '/whoami', headers: { Cookie: [`id_token=${token}`, `id_token=${token}`] } });
    await edge.onClientRequest(request);
    assert.equal(code(request), 'ambiguous');
  });

  test('an invalid session cookie on a public route counts as no identity', async () => {
    const expired = await idp.token({ iat: NOW - 4000, exp: NOW - 3600 }, { now: NOW });
    for (const cookie of [`id_token=${expired}`, `id_token=x; id_token=y`]) {
      const request = await through({ path: '/healthz', headers: { Cookie: cookie } });
      assert.equal(request.response, null, cookie);
      assert.equal(request.getHeader('X-Edge-Claims'), null);
      assert.equal(request.getVariable('PMUSER_EDGECLAIMS_STATE'), 'anonymous');
    }
  });

  test('an invalid session cookie on a protected route is a 401', async () => {
    const expired = await idp.token({ iat: NOW - 4000, exp: NOW - 3600 }, { now: NOW });
    const request = await through({ path: '/whoami', headers: { Cookie: `id_token=${expired}` } });
    assert.equal(request.response.status, 401);
    assert.equal(code(request), 'expired');
  });

  test('a non-Bearer Authorization header is left alone; the cookie is used', async () => {
    const token = await idp.token({}, { now: NOW });
    const request = new MockRequest({ path: '/whoami', headers: { Authorization: 'Basic dXNlcjpwYXNz', Cookie: `id_token=${token}` } });
    await edge.onClientRequest(request);
    assert.equal(request.response, null);
    assert.deepEqual(request.getHeader('Authorization'), ['Basic dXNlcjpwYXNz']);
  });
});

describe('RFC 9421 profile as the origin receives it', () => {
  test('headers, parameters and an HMAC the origin can recompute', async () => {
    const request = await through({ method: 'POST', path: '/orders/a%2fb', query: 'x=1&y=%20', claims: { email: 'a@example.com' } });
    const headers = request.originHeaders();
    assert.deepEqual(Object.keys(headers).sort(), ['Authorization', 'Signature', 'Signature-Input', 'X-Edge-Claims']);
    assert.match(
      headers['Signature-Input'],
      /^edge=\("@method" "@authority" "@path" "@query" "x-edge-claims"\);created=1795731572;nonce="[A-Za-z0-9_-]{16}";keyid="2026-11";alg="hmac-sha256";tag="edgeclaims"$/,
    );
    assert.ok(hmacVerifies(headers, { method: 'POST', path: '/orders/a%2fb', query: 'x=1&y=%20' }));
  });

  test('normalized path form signs the normalized path', async () => {
    const variables = { ...VARIABLES, PMUSER_EDGECLAIMS_PATH_FORM: 'normalized' };
    const request = await through({ path: '/files/%7euser/a%2fb%20c', claims: {}, variables });
    assert.ok(hmacVerifies(request.originHeaders(), { path: '/files/~user/a/b%20c' }));
  });

  test('authority override signs the Host the origin sees', async () => {
    const variables = { ...VARIABLES, PMUSER_EDGECLAIMS_AUTHORITY: 'origin.internal:8443' };
    const request = await through({ host: 'www.example.com', path: '/whoami', claims: {}, variables });
    assert.ok(hmacVerifies(request.originHeaders(), { authority: 'origin.internal:8443', path: '/whoami' }));
  });

  test('each request gets a fresh nonce', async () => {
    const a = (await through({ path: '/whoami', claims: {} })).originHeaders()['Signature-Input'];
    const b = (await through({ path: '/whoami', claims: {} })).originHeaders()['Signature-Input'];
    assert.notEqual(a, b);
  });
});

describe('JWS form (PMUSER_EDGECLAIMS_FORMAT = jws)', () => {
  test('X-Edge-Jwt: HS256 compact JWS with registered claims and request binding', async () => {
    const settings = settingsFor({ jws: { issuer: 'https://edge.example.com', audience: 'orders-app', ttl: 30 } });
    const jwsEdge = createEdgeClaims({ settings, jwks: idp.jwks, policy: compilePolicy(routePolicy), clock: () => NOW });
    const request = new MockRequest({
      method: 'PUT',
      path: '/orders/7',
      query: 'x=1',
      headers: { Authorization: `Bearer ${await idp.token({ groups: ['g1', 'g2'] }, { now: NOW })}` },
      variables: { ...VARIABLES, PMUSER_EDGECLAIMS_FORMAT: 'jws' },
    });
    await jwsEdge.onClientRequest(request);
    await jwsEdge.onOriginRequest(request);
    const headers = request.originHeaders();
    assert.equal(headers['X-Edge-Claims'], undefined);
    assert.equal(headers.Signature, undefined);
    const [h, p, s] = headers['X-Edge-Jwt'].split('.');
    const expected = createHmac('sha256', Buffer.from(SECRET_HEX, 'hex')).update(`${h}.${p}`).digest('base64url');
    assert.equal(s, expected);
    assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')), { alg: 'HS256', typ: 'JWT', kid: '2026-11' });
    const payload = JSON.parse(Buffer.from(p, 'base64url'));
    assert.equal(payload.iss, 'https://edge.example.com');
    assert.equal(payload.aud, 'orders-app');
    assert.equal(payload.idp_iss, 'https://idp.example.com');
    assert.equal(payload.iat, NOW);
    assert.equal(payload.exp, NOW + 30);
    assert.equal(payload.htm, 'PUT');
    assert.equal(payload.htu, 'https://app.example.com/orders/7');
    assert.deepEqual(payload.groups, ['g1', 'g2']);
    assert.match(payload.jti, /^[A-Za-z0-9_-]{16}$/);
  });
});

describe('configuration mistakes fail closed (500, nothing signed)', () => {
  const CASES = [
    ['key without prefix', { PMUSER_EDGECLAIMS_KEY: SECRET_HEX }],
    ['key shorter than 32 bytes', { PMUSER_EDGECLAIMS_KEY: 'utf8:short' }],
    ['key missing', { PMUSER_EDGECLAIMS_KEY: '' }],
    ['key id missing', { PMUSER_EDGECLAIMS_KEY_ID: undefined }],
    ['key id with a quote and newline', { PMUSER_EDGECLAIMS_KEY_ID: 'a"\nb' }],
    ['unknown algorithm', { PMUSER_EDGECLAIMS_ALG: 'hmac-sha1' }],
    ['HMAC secret given for ECDSA', { PMUSER_EDGECLAIMS_ALG: 'ecdsa-p256-sha256' }],
    ['unknown format', { PMUSER_EDGECLAIMS_FORMAT: 'cookie' }],
    ['unknown path form', { PMUSER_EDGECLAIMS_PATH_FORM: 'decoded' }],
  ];
  for (const [name, overrides] of CASES) {
    test(name, async () => {
      const request = await through({ path: '/whoami', claims: {}, variables: { ...VARIABLES, ...overrides } });
      assert.equal(request.response.status, 500, name);
      assert.equal(code(request), 'edge_misconfigured');
      assert.ok(!request.response.body.includes(SECRET_HEX));
      assert.equal(request.getHeader('Signature'), null);
      assert.equal(request.getHeader('X-Edge-Claims'), null);
    });
  }
});
