// The edge's signing key, read from a Property Manager user variable.
//
// PM variables hold text, and the origin reads its copy of the key from
// text too (edgeclaims.toml `secret = "hex:…"`). Both sides therefore
// insist on an explicit encoding prefix: without it one side could read
// "c2VjcmV0…" as base64 and the other as UTF-8, and every signature would
// fail with nothing pointing at the cause.

import { crypto } from 'crypto';
import { fromBase64, fromBase64url, fromHex, utf8 } from './bytes.js';

/** Raised for a missing or unusable key setting; never carries key material. */
export class EdgeConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'EdgeConfigError';
  }
}

// Same floor as the origin (edgeclaims.algorithms.MIN_HMAC_SECRET_BYTES):
// a shorter HMAC key would be refused there anyway.
export const MIN_HMAC_SECRET_BYTES = 32;

/**
 * The algorithms the edge can sign with, by their RFC 9421 name.
 * `jose` is the JWS name used by the X-Edge-Jwt form.
 */
export const ALGORITHMS = Object.freeze({
  'hmac-sha256': Object.freeze({
    jose: 'HS256',
    importParams: { name: 'HMAC', hash: 'SHA-256' },
    signParams: { name: 'HMAC' },
    format: 'raw',
  }),
  'ecdsa-p256-sha256': Object.freeze({
    jose: 'ES256',
    importParams: { name: 'ECDSA', namedCurve: 'P-256' },
    // WebCrypto ECDSA signatures are already IEEE P1363 r‖s (64 bytes for
    // P-256): exactly what RFC 9421 §3.3.4 and JWS ES256 (RFC 7518 §3.4)
    // want, so no DER conversion happens anywhere.
    signParams: { name: 'ECDSA', hash: 'SHA-256' },
    format: 'pkcs8',
  }),
});

/**
 * Decode a prefixed key text: `base64:`, `base64url:`, `hex:` or `utf8:`.
 * Same prefixes and strictness as the origin's `decode_secret`.
 */
export function decodeKeyText(text, what) {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new EdgeConfigError(`${what} is not set`);
  }
  const trimmed = text.trim();
  const colon = trimmed.indexOf(':');
  if (colon < 0) {
    throw new EdgeConfigError(`${what} needs an encoding prefix: base64:, base64url:, hex: or utf8:`);
  }
  const prefix = trimmed.slice(0, colon);
  const body = trimmed.slice(colon + 1);
  try {
    switch (prefix) {
      case 'base64':
        return fromBase64(body);
      case 'base64url':
        // The origin accepts base64url with or without padding; so do we.
        return fromBase64url(body.replace(/=+$/, ''));
      case 'hex':
        return fromHex(body);
      case 'utf8':
        return utf8(body);
      default:
        break;
    }
  } catch {
    throw new EdgeConfigError(`${what} is not valid ${prefix}`);
  }
  throw new EdgeConfigError(`${what} has an unknown encoding ${JSON.stringify(prefix)}`);
}

/** Decode and check the key material for `alg`; returns the bytes WebCrypto imports. */
export function keyMaterial(alg, text, what) {
  const algorithm = ALGORITHMS[alg];
  if (!algorithm) {
    throw new EdgeConfigError(`unsupported algorithm ${JSON.stringify(alg)}; use ${Object.keys(ALGORITHMS).join(' or ')}`);
  }
  const bytes = decodeKeyText(text, what);
  if (algorithm.format === 'raw' && bytes.length < MIN_HMAC_SECRET_BYTES) {
    throw new EdgeConfigError(`${what} is ${bytes.length} bytes; HMAC keys must be at least ${MIN_HMAC_SECRET_BYTES}`);
  }
  if (algorithm.format === 'pkcs8' && text.trim().startsWith('utf8:')) {
    throw new EdgeConfigError(`${what} must be the PKCS#8 DER key as base64:, base64url: or hex:`);
  }
  return bytes;
}

// Imported keys, by algorithm and variable text. An isolate serves many
// requests: importing once saves CPU on the smallest tier. Bounded, because
// one EdgeWorker may serve several properties with different keys.
const imported = new Map();
const MAX_IMPORTED = 8;

/** The CryptoKey for a key text (imported once per isolate). */
export function importSigningKey(alg, text, what) {
  const cacheKey = `${alg}\u0000${text}`;
  let pending = imported.get(cacheKey);
  if (!pending) {
    const bytes = keyMaterial(alg, text, what);
    const algorithm = ALGORITHMS[alg];
    pending = crypto.subtle
      .importKey(algorithm.format, bytes, algorithm.importParams, false, ['sign'])
      .catch(() => {
        imported.delete(cacheKey);
        throw new EdgeConfigError(`${what} is not a valid ${alg} key`);
      });
    if (imported.size >= MAX_IMPORTED) imported.delete(imported.keys().next().value);
    imported.set(cacheKey, pending);
  }
  return pending;
}

/** Sign bytes with an imported key; returns the raw signature bytes. */
export async function signBytes(alg, key, data) {
  return new Uint8Array(await crypto.subtle.sign(ALGORITHMS[alg].signParams, key, data));
}
