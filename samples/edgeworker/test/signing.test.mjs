// The RFC 9421 profile's building blocks (spec/signed-headers.md §1) and
// the PMUSER key encodings. The signature base is compared with text
// written out by hand here, and HMAC / ECDSA signatures are checked with
// Node's own crypto, not with the code under test.

import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { describe, test } from 'node:test';
import { load } from './shims/load.mjs';

const signing = await load('signing.js');
const keys = await load('keys.js');
const bytes = await load('bytes.js');

const SECRET_HEX = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

describe('component values', () => {
  const NORMALIZED = [
    ['/whoami', '/whoami'],
    ['/files/a%2fb%20c', '/files/a/b%20c'],
    ['/%7Euser/x', '/~user/x'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/café', '/caf%C3%A9'],
    ['/100%', '/100%25'],
    ['/a%zz%4', '/a%25zz%254'],
    ['/a+b;c=d,e', '/a%2Bb%3Bc%3Dd%2Ce'],
    ['/A-Z_a.z~0', '/A-Z_a.z~0'],
    ['/%00%ff', '/%00%FF'],
  ];
  for (const [raw, expected] of NORMALIZED) {
    test(`normalizePath(${JSON.stringify(raw)}) = ${expected}`, () => {
      assert.equal(signing.normalizePath(raw), expected);
    });
  }

  test('exact path form keeps the request line spelling (lower-case hex too)', () => {
    assert.equal(signing.pathForSignature('/files/a%2fb%20c', 'exact'), '/files/a%2fb%20c');
    assert.equal(signing.pathForSignature('', 'exact'), '/');
    // A character that cannot be on a request line is encoded, not signed raw.
    assert.equal(signing.pathForSignature('/a b/é', 'exact'), '/a%20b/%C3%A9');
  });

  test('@query is "?" plus the raw query, "?" alone when empty', () => {
    assert.equal(signing.queryForSignature(''), '?');
    assert.equal(signing.queryForSignature(undefined), '?');
    assert.equal(signing.queryForSignature('a=1&b=%20'), '?a=1&b=%20');
  });

  test('@authority is lower-cased without the default port', () => {
    assert.equal(signing.authorityOf('App.Example.COM:443', 'https'), 'app.example.com');
    assert.equal(signing.authorityOf('app.example.com:8443', 'https'), 'app.example.com:8443');
    assert.equal(signing.authorityOf('app.example.com:80', 'http'), 'app.example.com');
    assert.equal(signing.authorityOf('[::1]:443', 'https'), '[::1]');
  });

  test('sf-strings escape quotes and backslashes and refuse control characters', () => {
    assert.equal(signing.sfString('a"b\\c', 'x'), '"a\\"b\\\\c"');
    assert.throws(() => signing.sfString('a\nb', 'key id'), /key id must be printable ASCII/);
    assert.throws(() => signing.sfString('é', 'key id'), /printable ASCII/);
  });

  test('claims header: compact JSON, base64url without padding', () => {
    const value = signing.encodeClaims({ sub: 'élise', groups: ['a', 'b'] });
    assert.match(value, /^[A-Za-z0-9_-]+$/);
    assert.equal(Buffer.from(value, 'base64url').toString('utf8'), '{"sub":"élise","groups":["a","b"]}');
  });

  test('nonces are 16 base64url characters and differ', () => {
    const a = signing.newNonce();
    assert.match(a, /^[A-Za-z0-9_-]{16}$/);
    assert.notEqual(a, signing.newNonce());
  });
});

describe('signature base (RFC 9421 §2.5)', () => {
  const params = signing.signatureParams({ created: 1795731572, nonce: 'b3k2Hq9xT1mR', keyId: '2026-11', alg: 'hmac-sha256' });

  test('Signature-Input inner list', () => {
    assert.equal(
      params,
      '("@method" "@authority" "@path" "@query" "x-edge-claims");created=1795731572;nonce="b3k2Hq9xT1mR";keyid="2026-11";alg="hmac-sha256";tag="edgeclaims"',
    );
  });

  test('one line per component, then @signature-params, no trailing newline', () => {
    const base = signing.signatureBase(
      { '@method': 'GET', '@authority': 'app.example.com', '@path': '/a%2Fb', '@query': '?x=1', 'x-edge-claims': 'eyJzdWIiOiJhIn0' },
      params,
    );
    assert.equal(
      base,
      [
        '"@method": GET',
        '"@authority": app.example.com',
        '"@path": /a%2Fb',
        '"@query": ?x=1',
        '"x-edge-claims": eyJzdWIiOiJhIn0',
        `"@signature-params": ${params}`,
      ].join('\n'),
    );
  });

  test('a component value with a line break is refused', () => {
    assert.throws(
      () => signing.signatureBase({ '@method': 'GET', '@authority': 'h', '@path': '/\nx', '@query': '?', 'x-edge-claims': 'e' }, params),
      /single line/,
    );
  });

  test('signRequest: HMAC-SHA256 over that base, checked with node:crypto', async () => {
    const key = await keys.importSigningKey('hmac-sha256', `hex:${SECRET_HEX}`, 'test key');
    const headers = await signing.signRequest({
      request: { method: 'POST', authority: 'app.example.com', path: '/orders/a%2fb', query: 'q=1' },
      claimsValue: 'eyJzdWIiOiJhIn0',
      alg: 'hmac-sha256',
      keyId: '2026-11',
      key,
      created: 1795731572,
      nonce: 'n0nce',
      pathForm: 'normalized',
    });
    const inner = headers['Signature-Input'].slice('edge='.length);
    const base = [
      '"@method": POST',
      '"@authority": app.example.com',
      '"@path": /orders/a/b',
      '"@query": ?q=1',
      '"x-edge-claims": eyJzdWIiOiJhIn0',
      `"@signature-params": ${inner}`,
    ].join('\n');
    const expected = createHmac('sha256', Buffer.from(SECRET_HEX, 'hex')).update(base).digest('base64');
    assert.equal(headers.Signature, `edge=:${expected}:`);
  });

  test('signRequest: ECDSA P-256 signature is raw r‖s that node:crypto verifies', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
    const key = await keys.importSigningKey('ecdsa-p256-sha256', `base64:${der.toString('base64')}`, 'test key');
    const headers = await signing.signRequest({
      request: { method: 'GET', authority: 'h', path: '/', query: '' },
      claimsValue: 'e30',
      alg: 'ecdsa-p256-sha256',
      keyId: 'ec-1',
      key,
      created: 1,
      nonce: 'n',
      pathForm: 'exact',
    });
    const signature = Buffer.from(headers.Signature.slice('edge=:'.length, -1), 'base64');
    assert.equal(signature.length, 64);
    const inner = headers['Signature-Input'].slice('edge='.length);
    const base = `"@method": GET\n"@authority": h\n"@path": /\n"@query": ?\n"x-edge-claims": e30\n"@signature-params": ${inner}`;
    assert.ok(nodeVerify('sha256', Buffer.from(base), { key: pair.publicKey, dsaEncoding: 'ieee-p1363' }, signature));
  });
});

describe('PMUSER key encodings', () => {
  const secret = Buffer.from(SECRET_HEX, 'hex');

  for (const [name, text] of [
    ['hex', `hex:${SECRET_HEX}`],
    ['base64', `base64:${secret.toString('base64')}`],
    ['base64url', `base64url:${secret.toString('base64url')}`],
    ['utf8', 'utf8:0123456789abcdef0123456789abcdef'],
    ['surrounding spaces', `  hex:${SECRET_HEX}  `],
  ]) {
    test(`${name} prefix decodes`, () => {
      const decoded = keys.keyMaterial('hmac-sha256', text, 'key');
      assert.equal(decoded.length, 32);
    });
  }

  test('a key without a prefix is refused', () => {
    assert.throws(() => keys.keyMaterial('hmac-sha256', SECRET_HEX, 'PMUSER_EDGECLAIMS_KEY'), /needs an encoding prefix/);
  });

  test('an unknown prefix is refused', () => {
    assert.throws(() => keys.keyMaterial('hmac-sha256', `b64:${secret.toString('base64')}`, 'k'), /unknown encoding/);
  });

  test('a key shorter than 32 bytes is refused', () => {
    assert.throws(() => keys.keyMaterial('hmac-sha256', `hex:${SECRET_HEX.slice(2)}`, 'k'), /31 bytes; HMAC keys must be at least 32/);
  });

  test('invalid encodings are refused, and the message never quotes the key', () => {
    for (const text of ['hex:zz', 'hex:abc', 'base64:YWJj', 'base64:YW Jj', 'base64url:a+b/']) {
      assert.throws(
        () => keys.keyMaterial('hmac-sha256', text, 'k'),
        (error) => error instanceof keys.EdgeConfigError && !error.message.includes(text.split(':')[1]),
      );
    }
  });

  test('an unsupported algorithm is refused', () => {
    assert.throws(() => keys.keyMaterial('hmac-sha512', `hex:${SECRET_HEX}`, 'k'), /unsupported algorithm/);
  });

  test('an ECDSA key must be PKCS#8 DER, and an HMAC secret is not one', async () => {
    assert.throws(() => keys.keyMaterial('ecdsa-p256-sha256', 'utf8:not-a-key-not-a-key-not-a-key!!', 'k'), /PKCS#8/);
    await assert.rejects(keys.importSigningKey('ecdsa-p256-sha256', `hex:${SECRET_HEX}`, 'k'), /not a valid ecdsa-p256-sha256 key/);
  });
});

describe('byte codecs', () => {
  test('base64url decoding is strict', () => {
    assert.deepEqual([...bytes.fromBase64url('AQID')], [1, 2, 3]);
    for (const bad of ['AQID=', 'AQ+D', 'A']) assert.throws(() => bytes.fromBase64url(bad));
  });

  test('constant-time comparison', () => {
    assert.ok(bytes.bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)));
    assert.ok(!bytes.bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
    assert.ok(!bytes.bytesEqual(Uint8Array.of(1), Uint8Array.of(1, 2)));
  });
});
