// Shim of the EdgeWorkers `encoding` built-in for Node, over Buffer.
// decode(text, 'Uint8Array' | 'String') and encode(bytes) as EdgeWorkers
// documents them; atob/btoa on binary strings; WHATWG TextEncoder/Decoder.

export const TextEncoder = globalThis.TextEncoder;
export const TextDecoder = globalThis.TextDecoder;

export function atob(text) {
  return Buffer.from(text, 'base64').toString('latin1');
}

export function btoa(binary) {
  for (let i = 0; i < binary.length; i += 1) {
    if (binary.charCodeAt(i) > 0xff) throw new RangeError('btoa: character outside Latin-1');
  }
  return Buffer.from(binary, 'latin1').toString('base64');
}

function codec(name) {
  return {
    decode(text, outputFormat = 'String') {
      const bytes = Buffer.from(text, name);
      return outputFormat === 'Uint8Array' ? new Uint8Array(bytes) : bytes.toString('latin1');
    },
    encode(bytes) {
      return Buffer.from(bytes).toString(name);
    },
  };
}

export const base64 = codec('base64');
export const base64url = codec('base64url');
export const base16 = codec('hex');
