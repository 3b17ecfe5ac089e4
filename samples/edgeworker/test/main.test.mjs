// The bundle as deployed: main.js with its bundled settings, JWKS and route
// policy; the manifest; and the rule that the code uses nothing but the
// EdgeWorkers built-ins (crypto, encoding, log) and its own modules.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createIdp } from './shims/idp.js';
import { load } from './shims/load.mjs';
import { MockRequest } from './shims/request.js';

const bundleDirectory = new URL('../', import.meta.url);
const main = await load('main.js');
const BUNDLE_FILES = readdirSync(bundleDirectory).filter((name) => name.endsWith('.js'));

describe('main.js', () => {
  test('exports the two event handlers', () => {
    assert.equal(typeof main.onClientRequest, 'function');
    assert.equal(typeof main.onOriginRequest, 'function');
  });

  test('the bundled JWKS is empty, so every token is refused (fail closed)', async () => {
    const idp = await createIdp({ alg: 'RS256' });
    const request = new MockRequest({ path: '/whoami', headers: { Authorization: `Bearer ${await idp.token()}` } });
    await main.onClientRequest(request);
    assert.equal(request.response.status, 401);
    assert.equal(JSON.parse(request.response.body).code, 'unknown_key');
  });

  test('the sample route policy: /healthz public, /whoami needs an identity', async () => {
    const open = new MockRequest({ path: '/healthz', headers: { 'X-Edge-Claims': 'forged' } });
    await main.onClientRequest(open);
    assert.equal(open.response, null);
    assert.equal(open.getHeader('X-Edge-Claims'), null);
    const closed = new MockRequest({ path: '/whoami' });
    await main.onClientRequest(closed);
    assert.equal(closed.response.status, 401);
  });
});

describe('bundle', () => {
  test('bundle.json is an EdgeWorkers manifest', () => {
    const manifest = JSON.parse(readFileSync(new URL('bundle.json', bundleDirectory), 'utf8'));
    assert.equal(typeof manifest['edgeworker-version'], 'string');
    assert.match(manifest['edgeworker-version'], /^\S+$/);
    assert.equal(typeof manifest.description, 'string');
  });

  test('only the EdgeWorkers built-ins and relative .js modules are imported', () => {
    const allowed = new Set(['crypto', 'encoding', 'log']);
    for (const file of BUNDLE_FILES) {
      const source = readFileSync(new URL(file, bundleDirectory), 'utf8');
      for (const [, specifier] of source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const ok = allowed.has(specifier) || (specifier.startsWith('./') && specifier.endsWith('.js'));
        assert.ok(ok, `${file} imports ${specifier}`);
      }
      assert.doesNotMatch(source, /\b(?:require\(|process\.|Buffer\b|globalThis\.crypto)/, `${file} uses a Node-only API`);
    }
  });

  test('every bundled module is reachable from main.js', async () => {
    const reached = new Set(['main.js']);
    const queue = ['main.js'];
    while (queue.length) {
      const source = readFileSync(new URL(queue.pop(), bundleDirectory), 'utf8');
      for (const [, specifier] of source.matchAll(/from\s+['"]\.\/([^'"]+)['"]/g)) {
        if (!reached.has(specifier)) {
          reached.add(specifier);
          queue.push(specifier);
        }
      }
    }
    assert.deepEqual([...reached].sort(), [...BUNDLE_FILES].sort());
  });
});
