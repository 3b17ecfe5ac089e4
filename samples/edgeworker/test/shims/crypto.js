// Shim of the EdgeWorkers `crypto` built-in for Node: the same WebCrypto API
// (Node's webcrypto — imported, since Node 18 has no global `crypto` by
// default), plus Akamai's pem2ab helper.

import { webcrypto } from 'node:crypto';

export const crypto = {
  subtle: webcrypto.subtle,
  getRandomValues: (array) => webcrypto.getRandomValues(array),
};

/** PEM text → the DER bytes between its armour lines, as an ArrayBuffer. */
export function pem2ab(pem) {
  const body = pem.replace(/-----(BEGIN|END)[^-]+-----/g, '').replace(/\s+/g, '');
  const bytes = Buffer.from(body, 'base64');
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}
