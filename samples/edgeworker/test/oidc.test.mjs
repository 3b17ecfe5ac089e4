// ID token validation: valid RS256/ES256 tokens pass; every forged, stale,
// premature or misdirected token is a 401 from onClientRequest (respondWith),
// with the stable code the origin would use for the same fault.

import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { before, describe, test } from 'node:test';
import {
  algNoneToken,
  CLIENT_ID,
  createIdp,
  encodeSegment,
  ISSUER,
  keyConfusionToken,
  settingsFor,
  tamperedPayloadToken,
} from './shims/idp.js';
import { load } from './shims/load.mjs';
import { MockRequest } from './shims/request.js';

const NOW = 1_795_731_572;
const { createEdgeClaims } = await load('edgeclaims.js');
const { createTokenVerifier } = await load('oidc.js');
const { compilePolicy } = await load('policy.js');
const routePolicy = (await load('route-policy.js')).default;

let rsa;
let ec;
let edge;

before(async () => {
  rsa = await createIdp({ alg: 'RS256' });
  ec = await createIdp({ alg: 'ES256' });
  edge = createEdgeClaims({
    settings: settingsFor(),
    jwks: { keys: [rsa.jwk, ec.jwk] },
    policy: compilePolicy(routePolicy),
    clock: () => NOW,
  });
});

async function clientRequest(token, path = '/whoami') {
  const request = new MockRequest({ path, headers: { Authorization: `Bearer ${token}` } });
  await edge.onClientRequest(request);
  return request;
}

function refusal(request) {
  assert.ok(request.response, 'expected a respondWith() refusal');
  return { status: request.response.status, code: JSON.parse(request.response.body).code };
}

describe('valid ID tokens', () => {
  test('RS256 token passes and its claims are forwarded', async () => {
    const request = await clientRequest(await rsa.token({ groups: ['staff'] }, { now: NOW }));
    assert.equal(request.response, null);
    const claims = JSON.parse(Buffer.from(request.getHeader('X-Edge-Claims')[0], 'base64url'));
    assert.deepEqual(claims, { sub: 'alice', iss: ISSUER, aud: CLIENT_ID, exp: NOW + 300, groups: ['staff'] });
  });

  test('ES256 token passes', async () => {
    const request = await clientRequest(await ec.token({}, { now: NOW }));
    assert.equal(request.response, null);
  });

  test('audience list holding the client passes', async () => {
    const request = await clientRequest(await rsa.token({ aud: ['other', CLIENT_ID], azp: CLIENT_ID }, { now: NOW }));
    assert.equal(request.response, null);
  });

  test('exp within the leeway passes', async () => {
    const request = await clientRequest(await rsa.token({ iat: NOW - 400, exp: NOW - 30 }, { now: NOW }));
    assert.equal(request.response, null);
  });

  test('token from the id_token cookie passes', async () => {
    const token = await rsa.token({}, { now: NOW });
    const request = new MockRequest({ path: '/whoami', headers: { Cookie: `theme=dark; id_token=${token}; lang=en` } });
    await edge.onClientRequest(request);
    assert.equal(request.response, null);
    assert.ok(request.getHeader('X-Edge-Claims'));
  });
});

// Each row: name, async (idp) → token, expected code. All are 401.
const REFUSED = [
  ['expired', (idp) => idp.token({ iat: NOW - 1000, exp: NOW - 61 }, { now: NOW }), 'expired'],
  ['not yet valid (nbf)', (idp) => idp.token({ nbf: NOW + 61 }, { now: NOW }), 'not_yet_valid'],
  ['issued in the future (iat)', (idp) => idp.token({ iat: NOW + 120, exp: NOW + 600 }, { now: NOW }), 'not_yet_valid'],
  ['wrong audience', (idp) => idp.token({ aud: 'someone-else' }, { now: NOW }), 'bad_audience'],
  ['audience missing', (idp) => idp.token({ aud: undefined }, { now: NOW }), 'bad_audience'],
  ['azp names another client', (idp) => idp.token({ aud: [CLIENT_ID, 'x'], azp: 'x' }, { now: NOW }), 'bad_audience'],
  ['wrong issuer', (idp) => idp.token({ iss: 'https://evil.example.com' }, { now: NOW }), 'bad_issuer'],
  ['exp missing', (idp) => idp.token({ exp: undefined }, { now: NOW }), 'malformed'],
  ['exp not a number', (idp) => idp.token({ exp: String(NOW + 300) }, { now: NOW }), 'malformed'],
  ['alg none', async () => algNoneToken({ iss: ISSUER, aud: CLIENT_ID, sub: 'root', iat: NOW, exp: NOW + 300 }), 'algorithm_not_allowed'],
  ['alg None (case variant)', async () => `${encodeSegment({ alg: 'None' })}.${encodeSegment({ sub: 'root' })}.`, 'algorithm_not_allowed'],
  ['HS256 with the RSA public key as secret (key confusion)', (idp) => keyConfusionToken(idp.jwk, { iss: ISSUER, aud: CLIENT_ID, sub: 'root', iat: NOW, exp: NOW + 300 }), 'algorithm_not_allowed'],
  ['tampered payload', async (idp) => tamperedPayloadToken(await idp.token({}, { now: NOW }), { iss: ISSUER, aud: CLIENT_ID, sub: 'root', iat: NOW, exp: NOW + 300, groups: ['okta-admins'] }), 'bad_signature'],
  ['tampered signature', async (idp) => {
    const token = await idp.token({}, { now: NOW });
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    return `${token.slice(0, -2)}${last}${token.at(-1)}`;
  }, 'bad_signature'],
  ['unknown kid', (idp) => idp.token({}, { now: NOW, header: { kid: 'rotated-away' } }), 'unknown_key'],
  ['kid is a URL path (never fetched)', (idp) => idp.token({}, { now: NOW, header: { kid: '../../jwks', jku: 'https://evil.example.com/jwks' } }), 'unknown_key'],
  ['unknown crit header', (idp) => idp.token({}, { now: NOW, header: { crit: ['exp'] } }), 'malformed'],
  ['two segments', async () => 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0', 'malformed'],
  ['padded base64', async (idp) => `${await idp.token({}, { now: NOW })}==`, 'malformed'],
  ['oversized token', async () => `${'a'.repeat(9000)}.b.c`, 'too_large'],
];

describe('refused ID tokens → 401 from onClientRequest', () => {
  for (const [name, makeToken, code] of REFUSED) {
    test(name, async () => {
      for (const idp of name.includes('confusion') ? [rsa] : [rsa, ec]) {
        const request = await clientRequest(await makeToken(idp));
        const expectedStatus = code === 'too_large' ? 431 : 401;
        assert.deepEqual(refusal(request), { status: expectedStatus, code }, `${idp.alg}: ${name}`);
        assert.equal(request.getHeader('X-Edge-Claims'), null);
        assert.equal(request.getVariable('PMUSER_EDGECLAIMS_STATE'), undefined);
      }
    });
  }

  test('an invalid token is refused even on a public route (never downgraded to anonymous)', async () => {
    const request = await clientRequest(algNoneToken({ sub: 'root' }), '/healthz');
    assert.deepEqual(refusal(request), { status: 401, code: 'algorithm_not_allowed' });
  });

  test('a 401 carries WWW-Authenticate and no-store', async () => {
    const request = await clientRequest(await rsa.token({ aud: 'x' }, { now: NOW }));
    assert.deepEqual(request.response.headers['WWW-Authenticate'], ['Bearer error="invalid_token"']);
    assert.deepEqual(request.response.headers['Cache-Control'], ['no-store']);
  });
});

describe('verifier configuration (refused at start-up)', () => {
  const base = { issuer: ISSUER, audiences: [CLIENT_ID], jwks: { keys: [] } };

  test('"none" is not an algorithm', () => {
    assert.throws(() => createTokenVerifier({ ...base, algorithms: ['none'] }), /not one of/);
  });

  test('HS256 is not accepted for ID tokens (no shared secrets at the edge)', () => {
    assert.throws(() => createTokenVerifier({ ...base, algorithms: ['HS256'] }), /not one of/);
  });

  test('an empty allow-list is refused', () => {
    assert.throws(() => createTokenVerifier({ ...base, algorithms: [] }), /algorithms/);
  });

  test('issuer and audiences are required', () => {
    assert.throws(() => createTokenVerifier({ ...base, issuer: '', algorithms: ['RS256'] }), /issuer/);
    assert.throws(() => createTokenVerifier({ ...base, audiences: [], algorithms: ['RS256'] }), /audiences/);
  });

  test('a JWKS holding a private key is refused', async () => {
    const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
    const privateJwk = await webcrypto.subtle.exportKey('jwk', pair.privateKey);
    assert.throws(() => createTokenVerifier({ ...base, algorithms: ['ES256'], jwks: { keys: [privateJwk] } }), /private/);
  });

  test('an RSA key under 2048 bits is refused', async () => {
    const pair = await webcrypto.subtle.generateKey(
      { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    );
    const jwk = await webcrypto.subtle.exportKey('jwk', pair.publicKey);
    assert.throws(() => createTokenVerifier({ ...base, algorithms: ['RS256'], jwks: { keys: [jwk] } }), /2048/);
  });

  test("a JWK's own alg binds the key: an RS256-only key never checks a PS256 token", async () => {
    const verify = createTokenVerifier({ ...base, algorithms: ['RS256', 'PS256'], jwks: { keys: [rsa.jwk] } });
    const header = encodeSegment({ alg: 'PS256', kid: rsa.kid });
    await assert.rejects(verify(`${header}.${encodeSegment({ sub: 'a' })}.AAAA`, NOW), { code: 'unknown_key' });
  });

  test('without a kid, a token is only checked when exactly one key fits', async () => {
    const second = await createIdp({ alg: 'RS256', kid: 'second' });
    const verify = createTokenVerifier({ ...base, algorithms: ['RS256'], jwks: { keys: [rsa.jwk, second.jwk] } });
    const token = await rsa.token({}, { now: NOW, header: { kid: undefined } });
    await assert.rejects(verify(token, NOW), { code: 'unknown_key' });
    const single = createTokenVerifier({ ...base, algorithms: ['RS256'], jwks: { keys: [rsa.jwk] } });
    assert.equal((await single(token, NOW)).sub, 'alice');
  });
});
