// policy.js: the evaluator of the origin's exported route policy
// (Policy.export(), format "edgeclaims-policy" version 2). The document
// below is what the origin exports for the configuration in its comment;
// tests/test_edgeworker.py also compares this evaluator with the Python
// one on generated policies, and conformance.test.mjs runs the shared table.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { load } from './shims/load.mjs';

const { ambiguity, compilePolicy, leafValues, scalarText } = await load('policy.js');

// [edgeclaims]
// public_paths = ["/healthz", "/static/*"]
// [edgeclaims.roles]
// admin  = ["groups=okta-admins"]
// editor = { any = ["realm_access.roles=edit*"], includes = ["viewer"] }
// viewer = { all = ["email=*@example.com", "email_verified=true"] }
// chief  = { includes = ["admin"] }
// [edgeclaims.permissions]
// viewer = ["orders:read"]
// admin  = ["orders:write"]
// [edgeclaims.routes]
// "POST /orders/*" = ["orders:write"]
// "/orders/*" = ["orders:read"]
// "/admin/*" = ["admin"]
// "/healthz" = "public"
const DOCUMENT = {
  format: 'edgeclaims-policy',
  version: 2,
  roles: [
    { name: 'admin', any: [{ claim: ['groups'], equals: 'okta-admins' }], all: null, includes: [], grants: ['admin'] },
    {
      name: 'editor',
      any: [{ claim: ['realm_access', 'roles'], glob: 'edit*', regex: '^edit[\\s\\S]*$' }],
      all: null,
      includes: ['viewer'],
      grants: ['editor', 'viewer'],
    },
    {
      name: 'viewer',
      any: null,
      all: [
        { claim: ['email'], glob: '*@example.com', regex: '^[\\s\\S]*@example\\.com$' },
        { claim: ['email_verified'], equals: 'true' },
      ],
      includes: [],
      grants: ['viewer'],
    },
    { name: 'chief', any: null, all: null, includes: ['admin'], grants: ['chief', 'admin'] },
  ],
  permissions: [
    { role: 'viewer', permissions: ['orders:read'] },
    { role: 'admin', permissions: ['orders:write'] },
  ],
  routes: [
    { route: 'POST /orders/*', methods: ['POST'], path: '/orders/*', regex: '^/orders(?:/[\\s\\S]*)?$', kind: 'roles', roles: [], permissions: ['orders:write'] },
    { route: '/orders/*', methods: null, path: '/orders/*', regex: '^/orders(?:/[\\s\\S]*)?$', kind: 'roles', roles: [], permissions: ['orders:read'] },
    { route: '/admin/*', methods: null, path: '/admin/*', regex: '^/admin(?:/[\\s\\S]*)?$', kind: 'roles', roles: ['admin'], permissions: [] },
    { route: '/healthz', methods: null, path: '/healthz', regex: '^/healthz$', kind: 'public', roles: [], permissions: [] },
  ],
  public_paths: [
    { route: '/healthz', methods: null, path: '/healthz', regex: '^/healthz$', kind: 'public', roles: [], permissions: [] },
    { route: '/static/*', methods: null, path: '/static/*', regex: '^/static(?:/[\\s\\S]*)?$', kind: 'public', roles: [], permissions: [] },
  ],
  default: { kind: 'authenticated', roles: [], permissions: [] },
  overage_claims: ['email', 'email_verified', 'groups', 'realm_access'],
};

const policy = compilePolicy(DOCUMENT);
const sorted = (set) => [...set].sort();

describe('claims → roles → permissions', () => {
  const ROLES = [
    ['no claims', {}, []],
    ['multi-valued groups', { groups: ['staff', 'okta-admins'] }, ['admin']],
    ['single-valued groups', { groups: 'okta-admins' }, ['admin']],
    ['glob on a nested array (Keycloak)', { realm_access: { roles: ['offline', 'editor-eu'] } }, ['editor', 'viewer']],
    ['all: both rules', { email: 'a@example.com', email_verified: true }, ['viewer']],
    ['all: one rule missing', { email: 'a@example.com' }, []],
    ['all: the string "true" is the same JSON text as true', { email: 'a@example.com', email_verified: 'true' }, ['viewer']],
    ['glob is whole-value and case-sensitive', { email: 'a@EXAMPLE.com', email_verified: true }, []],
    ['glob does not match a suffix inside', { email: 'a@example.com.evil', email_verified: true }, []],
    ['objects never match', { groups: { 'okta-admins': true } }, []],
    ['a role with no rules is only granted through includes', { groups: ['chief'] }, []],
  ];
  for (const [name, claims, expected] of ROLES) {
    test(name, () => assert.deepEqual(sorted(policy.rolesFor(claims)), expected));
  }

  test('permissions follow includes', () => {
    assert.deepEqual(sorted(policy.permissionsFor(new Set(['editor', 'viewer']))), ['orders:read']);
    assert.deepEqual(sorted(policy.permissionsFor(new Set(['chief']))), ['orders:write']);
  });

  test('__proto__ and constructor are ordinary claim names', () => {
    const claims = JSON.parse('{"__proto__": {"groups": ["okta-admins"]}, "constructor": "x"}');
    assert.deepEqual(sorted(policy.rolesFor(claims)), []);
  });
});

describe('routes', () => {
  const DECISIONS = [
    // claims, method, path, outcome, route
    [null, 'GET', '/healthz', 'allow', '/healthz'],
    [null, 'GET', '/static/app.js', 'allow', '/static/*'],
    [null, 'GET', '/static', 'allow', '/static/*'],
    [null, 'GET', '/whoami', 'unauthenticated', null],
    [{ sub: 'a' }, 'GET', '/whoami', 'allow', null],
    [{ sub: 'a' }, 'GET', '/orders/1', 'forbidden', '/orders/*'],
    [{ email: 'a@example.com', email_verified: true }, 'GET', '/orders/1', 'allow', '/orders/*'],
    [{ email: 'a@example.com', email_verified: true }, 'POST', '/orders/1', 'forbidden', 'POST /orders/*'],
    [{ groups: ['okta-admins'] }, 'POST', '/orders/1', 'allow', 'POST /orders/*'],
    [{ groups: ['okta-admins'] }, 'post', '/orders/1', 'ambiguous_request', null],
    [null, 'post', '/orders/1', 'ambiguous_request', null],
    [{ groups: ['okta-admins'] }, 'GET', '/admin', 'allow', '/admin/*'],
    [{ sub: 'a' }, 'GET', '/administrator', 'allow', null],
    [{ sub: 'a' }, 'GET', '/healthz/../admin/x', 'ambiguous_request', null],
    [null, 'GET', '/static/../admin', 'ambiguous_request', null],
    [null, 'GET', '/admin/../healthz', 'ambiguous_request', null],
    [{ sub: 'a' }, 'GET', '//admin', 'ambiguous_request', null],
    [null, 'GET', '/static/..\\admin', 'ambiguous_request', null],
  ];
  for (const [claims, method, path, outcome, route] of DECISIONS) {
    test(`${claims ? 'identity' : 'anonymous'} ${method} ${path} → ${outcome}`, () => {
      const decision = policy.decide(claims, method, path);
      assert.equal(decision.outcome, outcome);
      assert.equal(decision.route, route);
    });
  }
});

describe('helpers', () => {
  test('requests with more than one reading (docs/roles.md)', () => {
    for (const [method, path, problem] of [
      ['GET', '/public/../admin', 'the path has a dot segment'],
      ['GET', '/a/./b', 'the path has a dot segment'],
      ['GET', '/admin/..', 'the path has a dot segment'],
      ['GET', '//admin', 'the path has an empty segment'],
      ['GET', '/admin//x', 'the path has an empty segment'],
      ['GET', '/a\\b', 'the path has a backslash'],
      ['GET', '/adm\ufffdin', 'the path is not UTF-8'],
      ['GET', 'admin', 'the path is not absolute'],
      ['post', '/orders/1', 'the method is not an upper-case token'],
      ['Get', '/x', 'the method is not an upper-case token'],
      ['', '/x', 'the method is not an upper-case token'],
    ]) {
      assert.equal(ambiguity(method, path), problem, `${method} ${path}`);
    }
    for (const path of ['/', '/admin', '/admin/', '/a/.b/..c/...', '/a.b/c..', '/a;b=c', '/caf\u00e9']) {
      assert.equal(ambiguity('GET', path), null, path);
      assert.equal(ambiguity('M-SEARCH', path), null, path);
    }
  });

  test('scalar texts are JSON texts as JavaScript writes them', () => {
    assert.deepEqual([true, false, null, 1.0, 1e21, 0.1, -0, 'x'].map(scalarText), ['true', 'false', 'null', '1', '1e+21', '0.1', '0', 'x']);
    assert.equal(scalarText({}), null);
    assert.equal(scalarText([]), null);
  });

  test('leaf values: arrays are entered one level on the way, spread at the end', () => {
    const claims = { orgs: [{ name: 'a' }, { name: ['b', 'c'] }, 'x', [{ name: 'nested' }]], n: null };
    assert.deepEqual(leafValues(claims, ['orgs', 'name']), ['a', 'b', 'c']);
    assert.deepEqual(leafValues(claims, ['n']), [null]);
    assert.deepEqual(leafValues(claims, ['absent']), []);
  });

  test('another format or version is refused', () => {
    assert.throws(() => compilePolicy({ ...DOCUMENT, version: 1 }), /version 2/);
    assert.throws(() => compilePolicy({ ...DOCUMENT, version: 3 }), /version 2/);
    assert.throws(() => compilePolicy({ ...DOCUMENT, format: 'other' }), /edgeclaims-policy/);
  });
});
