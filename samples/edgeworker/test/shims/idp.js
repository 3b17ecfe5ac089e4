// A test identity provider: a WebCrypto key pair, its JWKS, and ID tokens
// signed with it — plus the forged tokens the attack tests need. Test code,
// never bundled: it runs on Node's own WebCrypto and Buffer.

import { webcrypto } from 'node:crypto';

const { subtle } = webcrypto;

export const ISSUER = 'https://idp.example.com';
export const CLIENT_ID = 'edgeclaims-client';

const PARAMS = {
  RS256: {
    generate: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
  ES256: {
    generate: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' },
  },
};

export function b64url(data) {
  return Buffer.from(typeof data === 'string' ? data : new Uint8Array(data)).toString('base64url');
}

export function encodeSegment(object) {
  return b64url(JSON.stringify(object));
}

/** An identity provider with one signing key; `kid` names it in the JWKS. */
export async function createIdp({ alg = 'RS256', kid = `${alg.toLowerCase()}-key` } = {}) {
  const pair = await subtle.generateKey(PARAMS[alg].generate, true, ['sign', 'verify']);
  const jwk = await subtle.exportKey('jwk', pair.publicKey);
  // Published JWKS carry kid/use/alg; WebCrypto's export adds key_ops/ext,
  // which real JWKS documents also sometimes hold.
  const publicJwk = { ...jwk, kid, use: 'sig', alg };

  /** Sign a token over any header and payload (the header gets alg/kid unless overridden). */
  async function sign(payload, header = {}) {
    const fullHeader = { alg, typ: 'JWT', kid, ...header };
    const input = `${encodeSegment(fullHeader)}.${encodeSegment(payload)}`;
    const signature = await subtle.sign(PARAMS[alg].sign, pair.privateKey, Buffer.from(input));
    return `${input}.${b64url(signature)}`;
  }

  /** A valid ID token for `claims` at time `now` (seconds). */
  function token(claims = {}, { now = Math.floor(Date.now() / 1000), header = {} } = {}) {
    return sign({ iss: ISSUER, aud: CLIENT_ID, iat: now, exp: now + 300, sub: 'alice', ...claims }, header);
  }

  return { alg, kid, jwk: publicJwk, jwks: { keys: [publicJwk] }, privateKey: pair.privateKey, sign, token };
}

/** Settings for createEdgeClaims / createTokenVerifier that trust `idps`. */
export function settingsFor(overrides = {}) {
  return {
    issuer: ISSUER,
    audiences: [CLIENT_ID],
    algorithms: ['RS256', 'ES256'],
    leeway: 60,
    cookieName: 'id_token',
    ...overrides,
  };
}

// --- forged tokens, named after the attack they simulate --------------------

/** `alg: none` with an empty signature (RFC 8725 §2.1). */
export function algNoneToken(payload) {
  return `${encodeSegment({ alg: 'none', typ: 'JWT' })}.${encodeSegment(payload)}.`;
}

/** HS256 "signed" with the RSA public key's JWK text as the secret (key confusion). */
export async function keyConfusionToken(publicJwk, payload) {
  const secret = Buffer.from(JSON.stringify(publicJwk));
  const key = await subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const input = `${encodeSegment({ alg: 'HS256', typ: 'JWT', kid: publicJwk.kid })}.${encodeSegment(payload)}`;
  return `${input}.${b64url(await subtle.sign('HMAC', key, Buffer.from(input)))}`;
}

/** A valid token whose payload was swapped after signing. */
export function tamperedPayloadToken(token, payload) {
  const [header, , signature] = token.split('.');
  return `${header}.${encodeSegment(payload)}.${signature}`;
}
