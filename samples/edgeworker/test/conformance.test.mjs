// The shared RBAC conformance table (tests/conformance/rbac.json at the
// project root): every case, decided by policy.js on the table's `export`
// document — the document the EdgeWorker bundles — must give exactly the
// roles, permissions, outcome, route and overage the Python engine gives
// (tests/test_rbac_conformance.py runs the same cases there).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { load } from './shims/load.mjs';

const TABLE_URL = new URL('../../../tests/conformance/rbac.json', import.meta.url);
const table = JSON.parse(readFileSync(TABLE_URL, 'utf8'));
const { compilePolicy } = await load('policy.js');
const policy = compilePolicy(table.export);

const sorted = (values) => [...values].sort();

describe('RBAC conformance table (tests/conformance/rbac.json)', () => {
  test('is the table this evaluator understands', () => {
    assert.equal(table.format, 'edgeclaims-rbac-conformance');
    assert.equal(table.version, 1);
    assert.ok(table.cases.length > 0);
  });

  for (const testCase of table.cases) {
    test(testCase.id, () => {
      const decision = policy.decide(testCase.claims, testCase.method, testCase.path);
      const got = {
        roles: sorted(decision.roles),
        permissions: sorted(decision.permissions),
        outcome: decision.outcome,
        route: decision.route,
        overage: testCase.claims === null ? [] : policy.overage(testCase.claims),
      };
      const want = {
        roles: testCase.roles,
        permissions: testCase.permissions,
        outcome: testCase.outcome,
        route: testCase.route,
        overage: testCase.overage || [],
      };
      assert.deepEqual(got, want, testCase.note);
    });
  }
});
