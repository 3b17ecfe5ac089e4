// The two wire formats the origin verifies (spec/signed-headers.md):
// §1, an RFC 9421 HTTP Message Signature over the request and the claims
// header; §2, a compact JWS in X-Edge-Jwt.
//
// The origin rebuilds the RFC 9421 signature base from the request it
// receives, byte for byte. Every function here mirrors one rule of §1 so
// the two sides cannot drift: when in doubt, compare with
// edgeclaims/sources/rfc9421_base.py and edgeclaims/request.py.

import { crypto } from 'crypto';
import { toBase64, toBase64url, utf8 } from './bytes.js';
import { ALGORITHMS, EdgeConfigError, signBytes } from './keys.js';

export const CLAIMS_HEADER = 'X-Edge-Claims';
export const JWT_HEADER = 'X-Edge-Jwt';
export const SIGNATURE_LABEL = 'edge';
export const SIGNATURE_TAG = 'edgeclaims';
/** Covered components, in order (the origin requires @method @path @query and the claims header). */
export const COVERED = Object.freeze(['@method', '@authority', '@path', '@query', 'x-edge-claims']);

const DEFAULT_PORTS = { http: '80', https: '443' };
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const HEX_DIGITS = '0123456789ABCDEF';

/**
 * An RFC 8941 §3.3.3 sf-string. Only printable ASCII can be one; anything
 * else is a configuration error (a key id with a newline would let a
 * setting inject lines into the signature base).
 */
export function sfString(value, what) {
  if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) {
    throw new EdgeConfigError(`${what} must be printable ASCII`);
  }
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * `@authority` (RFC 9421 §2.2.3): the host, lower-cased, without the
 * scheme's default port — what the origin derives from its Host header.
 */
export function authorityOf(host, scheme) {
  let authority = String(host || '').trim().toLowerCase();
  const port = DEFAULT_PORTS[String(scheme || 'https').toLowerCase()];
  if (port && authority.endsWith(`:${port}`) && !authority.endsWith(']')) {
    authority = authority.slice(0, -(port.length + 1));
  }
  return authority;
}

/**
 * Percent-decode to bytes the way Python's `unquote_to_bytes` does: the
 * text is UTF-8 first, `%XX` (either case) becomes one byte, and a `%` not
 * followed by two hex digits stays a literal `%`.
 */
export function percentDecodeToBytes(text) {
  const raw = utf8(text);
  const out = [];
  for (let i = 0; i < raw.length; i += 1) {
    if (raw[i] === 0x25 && i + 2 < raw.length && isHexByte(raw[i + 1]) && isHexByte(raw[i + 2])) {
      out.push(parseInt(String.fromCharCode(raw[i + 1], raw[i + 2]), 16));
      i += 2;
    } else {
      out.push(raw[i]);
    }
  }
  return Uint8Array.from(out);
}

function isHexByte(byte) {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}

/**
 * `path_form = "normalized"` (§1 rule 7): percent-decode, then percent-encode
 * every byte outside the RFC 3986 unreserved set and "/", upper-case hex.
 * Same result as edgeclaims.request.normalize_path.
 */
export function normalizePath(path) {
  let out = '';
  for (const byte of percentDecodeToBytes(path)) {
    const char = String.fromCharCode(byte);
    if (byte < 0x80 && (char === '/' || UNRESERVED.test(char))) out += char;
    else out += `%${HEX_DIGITS[byte >> 4]}${HEX_DIGITS[byte & 15]}`;
  }
  return out;
}

/**
 * `@path` as signed. "exact" keeps the path as on the request line; only
 * bytes that cannot appear on a request line at all (controls, space,
 * non-ASCII) are percent-encoded, so a runtime that hands us such a
 * character still produces the form the origin's raw path has.
 */
export function pathForSignature(path, pathForm) {
  const absolute = path && path.startsWith('/') ? path : `/${path || ''}`;
  if (pathForm === 'normalized') return normalizePath(absolute);
  let out = '';
  for (const byte of utf8(absolute)) {
    if (byte > 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `%${HEX_DIGITS[byte >> 4]}${HEX_DIGITS[byte & 15]}`;
  }
  return out;
}

/** `@query` (RFC 9421 §2.2.7): "?" and the raw query; "?" alone when there is none. */
export function queryForSignature(query) {
  const raw = query == null ? '' : String(query);
  return `?${raw.startsWith('?') ? raw.slice(1) : raw}`;
}

/** The claims header value: compact UTF-8 JSON, base64url without padding. */
export function encodeClaims(claims) {
  return toBase64url(utf8(JSON.stringify(claims)));
}

/** A fresh nonce: 12 random bytes, base64url (16 characters). */
export function newNonce() {
  return toBase64url(crypto.getRandomValues(new Uint8Array(12)));
}

/**
 * The `@signature-params` value: the inner list of covered components and
 * its parameters, serialized per RFC 8941 (this exact text is also what
 * follows "edge=" in Signature-Input).
 */
export function signatureParams({ created, nonce, keyId, alg, tag = SIGNATURE_TAG }) {
  if (!Number.isSafeInteger(created) || created < 0) throw new EdgeConfigError('created must be a non-negative integer');
  const components = COVERED.map((name) => `"${name}"`).join(' ');
  return (
    `(${components});created=${created};nonce=${sfString(nonce, 'nonce')}` +
    `;keyid=${sfString(keyId, 'key id')};alg=${sfString(alg, 'alg')};tag=${sfString(tag, 'tag')}`
  );
}

/**
 * The RFC 9421 §2.5 signature base: one `"<id>": <value>` line per covered
 * component, then the `@signature-params` line, no trailing newline.
 */
export function signatureBase(values, params) {
  const lines = COVERED.map((name) => {
    const value = values[name];
    // A line break inside a value would forge further lines of the base.
    if (typeof value !== 'string' || /[\r\n]/.test(value) || !/^[\x20-\x7e]*$/.test(value)) {
      throw new EdgeConfigError(`component ${name} is not a single line of printable ASCII`);
    }
    return `"${name}": ${value}`;
  });
  lines.push(`"@signature-params": ${params}`);
  return lines.join('\n');
}

/**
 * Sign the RFC 9421 profile for one request.
 *
 * `request`: { method, authority, path, query } as the origin will see
 * them; `claimsValue`: the X-Edge-Claims value. Returns the two headers.
 */
export async function signRequest({ request, claimsValue, alg, keyId, key, created, nonce, pathForm }) {
  const params = signatureParams({ created, nonce, keyId, alg });
  const base = signatureBase(
    {
      '@method': request.method,
      '@authority': request.authority,
      '@path': pathForSignature(request.path, pathForm),
      '@query': queryForSignature(request.query),
      'x-edge-claims': claimsValue,
    },
    params,
  );
  const signature = await signBytes(alg, key, utf8(base));
  return {
    'Signature-Input': `${SIGNATURE_LABEL}=${params}`,
    Signature: `${SIGNATURE_LABEL}=:${toBase64(signature)}:`,
  };
}

/**
 * The JWS form (§2): a compact JWS whose payload is the claims plus the
 * registered claims the origin checks (iss, aud, iat, exp, jti) and the
 * DPoP-style request binding (htm, htu: scheme + authority + path, no query).
 */
export async function signJwt({ claims, alg, keyId, key, now, ttl, issuer, audience, binding }) {
  const header = { alg: ALGORITHMS[alg].jose, typ: 'JWT', kid: keyId };
  const payload = { ...claims, iat: now, exp: now + ttl, jti: newNonce() };
  // The edge is the issuer of this assertion; the user's IdP issuer stays
  // available to the origin under its own name.
  if ('iss' in claims) payload.idp_iss = claims.iss;
  delete payload.iss;
  delete payload.aud;
  delete payload.nbf;
  if (issuer) payload.iss = issuer;
  if (audience) payload.aud = audience;
  if (binding) {
    payload.htm = binding.method;
    payload.htu = binding.htu;
  }
  const signingInput = `${toBase64url(utf8(JSON.stringify(header)))}.${toBase64url(utf8(JSON.stringify(payload)))}`;
  const signature = await signBytes(alg, key, utf8(signingInput));
  return `${signingInput}.${toBase64url(signature)}`;
}
