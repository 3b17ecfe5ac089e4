// Validating the user's OIDC ID token at the edge (OpenID Connect Core
// §3.1.3.7) against the identity provider's published keys (a JWKS bundled
// with the EdgeWorker, see jwks.js).
//
// Rules that matter and why:
// - The algorithm allow-list comes from configuration, never from the
//   token, and `none` is not an algorithm here at all (RFC 8725 §3.1).
// - A key is bound to its key type and, when the JWK says so, to one
//   algorithm: an RSA public key is never fed to HMAC (key confusion).
// - `exp`, `nbf` and `iat` are always checked. Akamai's own JWT helper
//   library skips expiry and not-before unless asked; this module does not
//   have a switch to skip them.
// - `jku`, `x5u`, `jwk`, `x5c` in the token header are ignored for key
//   selection; `kid` is only a lookup key; an unknown `crit` is refused.
// - Nothing in the payload is read before the signature verifies.

import { crypto } from 'crypto';
import { fromBase64url, fromUtf8, utf8 } from './bytes.js';

/** A token that must be refused; `code` is one of the origin's stable codes. */
export class TokenError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'TokenError';
    this.code = code;
  }
}

// JOSE algorithms (RFC 7518 §3) this validator can check, with the key type
// each one needs and its WebCrypto parameters.
const JOSE = Object.freeze({
  RS256: {
    kty: 'RSA',
    importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    verifyParams: { name: 'RSASSA-PKCS1-v1_5' },
  },
  PS256: {
    kty: 'RSA',
    importParams: { name: 'RSA-PSS', hash: 'SHA-256' },
    verifyParams: { name: 'RSA-PSS', saltLength: 32 },
  },
  ES256: {
    kty: 'EC',
    crv: 'P-256',
    importParams: { name: 'ECDSA', namedCurve: 'P-256' },
    // JWS ES256 signatures are r‖s, 64 bytes: the form WebCrypto verifies.
    verifyParams: { name: 'ECDSA', hash: 'SHA-256' },
    signatureBytes: 64,
  },
});

export const SUPPORTED_ALGORITHMS = Object.freeze(Object.keys(JOSE));
const MIN_RSA_MODULUS_BYTES = 256; // 2048 bits, as the origin requires
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Build a verifier for one identity provider.
 *
 * options: { jwks, issuer, audiences, algorithms, leeway, maxAge, maxTokenBytes }
 * Configuration mistakes throw at start-up, not per request.
 */
export function createTokenVerifier(options) {
  const config = checkOptions(options);
  const keys = indexJwks(options.jwks, config.algorithms);
  const imported = new Map();

  function importKey(entry, alg) {
    const cacheKey = `${entry.index}\u0000${alg}`;
    let pending = imported.get(cacheKey);
    if (!pending) {
      pending = crypto.subtle.importKey('jwk', entry.publicJwk, JOSE[alg].importParams, false, ['verify']);
      imported.set(cacheKey, pending);
    }
    return pending;
  }

  return async function verifyToken(token, now) {
    const parts = splitToken(token, config.maxTokenBytes);
    const header = decodeJsonSegment(parts[0], 'header');
    const alg = checkHeader(header, config.algorithms);
    const entry = selectKey(keys, header.kid, alg);
    const signature = decodeSegment(parts[2]);
    if (JOSE[alg].signatureBytes && signature.length !== JOSE[alg].signatureBytes) {
      throw new TokenError('bad_signature', 'signature has the wrong length');
    }
    let valid = false;
    try {
      const key = await importKey(entry, alg);
      valid = await crypto.subtle.verify(JOSE[alg].verifyParams, key, signature, utf8(`${parts[0]}.${parts[1]}`));
    } catch {
      valid = false;
    }
    if (!valid) throw new TokenError('bad_signature', 'the ID token signature does not verify');
    // Only now is the payload read.
    const claims = decodeJsonSegment(parts[1], 'payload');
    checkClaims(claims, config, now);
    return claims;
  };
}

function checkOptions(options) {
  const { issuer, audiences, algorithms } = options || {};
  if (typeof issuer !== 'string' || !issuer) throw new TypeError('settings.issuer: the ID token issuer is required');
  if (!Array.isArray(audiences) || audiences.length === 0 || !audiences.every((a) => typeof a === 'string' && a)) {
    throw new TypeError('settings.audiences: list your OIDC client id(s)');
  }
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    throw new TypeError('settings.algorithms: list the allowed algorithms, e.g. ["RS256"]');
  }
  for (const alg of algorithms) {
    if (!Object.prototype.hasOwnProperty.call(JOSE, alg)) {
      throw new TypeError(`settings.algorithms: ${JSON.stringify(alg)} is not one of ${SUPPORTED_ALGORITHMS.join(', ')}`);
    }
  }
  const leeway = options.leeway ?? 60;
  if (!Number.isFinite(leeway) || leeway < 0 || leeway > 300) throw new TypeError('settings.leeway: seconds, 0–300');
  return {
    issuer,
    audiences: new Set(audiences),
    algorithms: new Set(algorithms),
    leeway,
    maxAge: options.maxAge ?? null,
    maxTokenBytes: options.maxTokenBytes ?? 8192,
  };
}

// Keep only the public members WebCrypto needs: a JWK's `key_ops` or `ext`
// could otherwise make an import fail, and a private member must never
// have been published in the first place.
function indexJwks(jwks, algorithms) {
  if (!jwks || !Array.isArray(jwks.keys)) throw new TypeError('jwks: expected { "keys": [...] }');
  const entries = [];
  jwks.keys.forEach((jwk, index) => {
    if (!jwk || typeof jwk !== 'object') throw new TypeError(`jwks.keys[${index}]: not an object`);
    if ('d' in jwk || 'p' in jwk || 'k' in jwk) {
      throw new TypeError(`jwks.keys[${index}]: holds private or secret key material; bundle public keys only`);
    }
    if (jwk.use !== undefined && jwk.use !== 'sig') return; // encryption keys are not ours
    let publicJwk;
    if (jwk.kty === 'RSA' && typeof jwk.n === 'string' && typeof jwk.e === 'string') {
      if (fromBase64url(jwk.n).length < MIN_RSA_MODULUS_BYTES) {
        throw new TypeError(`jwks.keys[${index}]: RSA keys must be at least 2048 bits`);
      }
      publicJwk = { kty: 'RSA', n: jwk.n, e: jwk.e };
    } else if (jwk.kty === 'EC' && jwk.crv === 'P-256' && typeof jwk.x === 'string' && typeof jwk.y === 'string') {
      publicJwk = { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y };
    } else {
      return; // a key type no allowed algorithm could use
    }
    // The JWK's own alg, when present, binds the key to that one algorithm.
    const usable = [...algorithms].filter(
      (alg) => JOSE[alg].kty === publicJwk.kty && (jwk.alg === undefined || jwk.alg === alg),
    );
    if (usable.length === 0) return;
    entries.push({ index, kid: typeof jwk.kid === 'string' ? jwk.kid : null, algorithms: new Set(usable), publicJwk });
  });
  return entries;
}

function splitToken(token, maxBytes) {
  if (typeof token !== 'string' || token.length === 0) throw new TokenError('malformed', 'empty token');
  if (token.length > maxBytes) throw new TokenError('too_large', 'the ID token is too large');
  const parts = token.split('.');
  // An empty signature is left to the algorithm check: `alg: none` tokens
  // carry one, and they are refused as algorithm_not_allowed, by name.
  if (parts.length !== 3 || !SEGMENT.test(parts[0]) || !SEGMENT.test(parts[1]) || !/^[A-Za-z0-9_-]*$/.test(parts[2])) {
    throw new TokenError('malformed', 'not a compact JWS');
  }
  return parts;
}

function decodeSegment(segment) {
  try {
    return fromBase64url(segment);
  } catch {
    throw new TokenError('malformed', 'a token segment is not base64url');
  }
}

function decodeJsonSegment(segment, what) {
  let value;
  try {
    value = JSON.parse(fromUtf8(decodeSegment(segment)));
  } catch {
    throw new TokenError('malformed', `the token ${what} is not base64url JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TokenError('malformed', `the token ${what} is not a JSON object`);
  }
  return value;
}

function checkHeader(header, allowed) {
  const { alg } = header;
  // `none`, HS256 against a public key, anything not configured: refused
  // before a key is even looked at.
  if (typeof alg !== 'string' || !allowed.has(alg)) {
    throw new TokenError('algorithm_not_allowed', 'the token algorithm is not allowed');
  }
  if (header.crit !== undefined) {
    throw new TokenError('malformed', 'the token has critical header parameters this edge does not understand');
  }
  if (header.kid !== undefined && typeof header.kid !== 'string') {
    throw new TokenError('malformed', 'kid is not a string');
  }
  return alg;
}

function selectKey(keys, kid, alg) {
  const candidates = keys.filter((entry) => entry.algorithms.has(alg) && (kid === undefined || entry.kid === kid));
  // Without a kid the choice is only unambiguous when one key fits.
  if (candidates.length !== 1) {
    throw new TokenError('unknown_key', kid === undefined ? 'no kid and not exactly one usable key' : 'no usable key has the token kid');
  }
  return candidates[0];
}

function isNumber(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

function checkClaims(claims, config, now) {
  const { leeway } = config;
  if (claims.iss !== config.issuer) throw new TokenError('bad_issuer', 'the token issuer is not the configured one');
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.some((aud) => typeof aud === 'string' && config.audiences.has(aud))) {
    throw new TokenError('bad_audience', 'the token is not for this client');
  }
  // OIDC Core §3.1.3.7 (5): with several audiences, azp names the client.
  if (claims.azp !== undefined && !config.audiences.has(claims.azp)) {
    throw new TokenError('bad_audience', 'the token azp is not this client');
  }
  if (!isNumber(claims.exp)) throw new TokenError('malformed', 'exp is required and must be a number');
  if (now > claims.exp + leeway) throw new TokenError('expired', 'the token has expired');
  if (claims.nbf !== undefined) {
    if (!isNumber(claims.nbf)) throw new TokenError('malformed', 'nbf is not a number');
    if (claims.nbf > now + leeway) throw new TokenError('not_yet_valid', 'the token is not valid yet');
  }
  if (!isNumber(claims.iat)) throw new TokenError('malformed', 'iat is required and must be a number');
  if (claims.iat > now + leeway) throw new TokenError('not_yet_valid', 'the token was issued in the future');
  if (config.maxAge !== null && now - claims.iat > config.maxAge + leeway) {
    throw new TokenError('expired', 'the token is older than maxAge');
  }
  if (typeof claims.sub !== 'string' || !claims.sub) throw new TokenError('malformed', 'sub is required');
}
