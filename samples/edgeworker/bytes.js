// Byte and text codecs over the EdgeWorkers `encoding` built-in.
//
// Every decoder here is strict: a header or a key in a slightly different
// alphabet is a different encoder (or an attack), and the origin's
// verifier is strict too (spec/signed-headers.md §1 rule 9), so accepting
// it here would only move the failure somewhere harder to diagnose.

import { atob, btoa, TextDecoder, TextEncoder } from 'encoding';

const utf8Encoder = new TextEncoder();
// fatal: an invalid UTF-8 token payload is refused, not patched with U+FFFD.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const lenientDecoder = new TextDecoder('utf-8');

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const HEX = /^(?:[0-9A-Fa-f]{2})*$/;

/** UTF-8 bytes of a string. */
export function utf8(text) {
  return utf8Encoder.encode(text);
}

/** A string from UTF-8 bytes; throws on invalid UTF-8. */
export function fromUtf8(bytes) {
  return utf8Decoder.decode(bytes);
}

/** A string from UTF-8 bytes, invalid sequences replaced by U+FFFD. */
export function fromUtf8Lenient(bytes) {
  return lenientDecoder.decode(bytes);
}

// atob/btoa speak "binary strings" (one char per byte); these two convert.
function bytesToBinary(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 1) binary += String.fromCharCode(bytes[i]);
  return binary;
}

function binaryToBytes(binary) {
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Standard base64 with padding (RFC 4648 §4): the `Signature` header's byte sequence. */
export function toBase64(bytes) {
  return btoa(bytesToBinary(bytes));
}

/** base64url without padding (RFC 4648 §5): claims header, JWS segments, nonces. */
export function toBase64url(bytes) {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decode unpadded base64url; throws on padding or characters outside the alphabet. */
export function fromBase64url(text) {
  if (!BASE64URL.test(text) || text.length % 4 === 1) {
    throw new TypeError('not unpadded base64url');
  }
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return binaryToBytes(atob(padded));
}

/** Decode padded standard base64; throws on anything else. */
export function fromBase64(text) {
  if (!BASE64.test(text)) throw new TypeError('not padded base64');
  return binaryToBytes(atob(text));
}

/** Decode hexadecimal (either case); throws on an odd length or a non-hex digit. */
export function fromHex(text) {
  if (!HEX.test(text)) throw new TypeError('not hexadecimal');
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Constant-time equality of two byte arrays (lengths are not secret). */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i += 1) diff |= a[i] ^ b[i];
  return diff === 0;
}
