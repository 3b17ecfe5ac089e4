// The origin's route policy, evaluated at the edge.
//
// The origin exports its compiled policy with `edgeclaims export-policy`
// (Policy.export() in edgeclaims/rbac/policy.py): a versioned JSON document
// of roles, permissions and routes. This module evaluates that document and
// must reach the same decisions as the Python evaluator, case for case; the
// shared conformance table (tests/conformance/rbac.json) runs through both.
//
// The edge decision is an early, cheap refusal (no origin round trip for a
// request that will be refused anyway). The origin still decides on its
// own; nothing here is trusted by it.

export const EXPORT_FORMAT = 'edgeclaims-policy';
export const EXPORT_VERSION = 2;

const hasOwn = (object, name) => Object.prototype.hasOwnProperty.call(object, name);

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The text a claim value compares by; null for objects and arrays, which
 * never match. Strings are themselves; true/false/null and numbers are
 * their JSON text as JavaScript writes it (the Python side imitates this).
 */
export function scalarText(value) {
  if (typeof value === 'string') return value;
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (value === null) return 'null';
  if (typeof value === 'number') return String(value);
  return null;
}

/**
 * The values a rule on `path` compares, in claim order: each step takes the
 * member of an object; an array met on the way is entered one level (the
 * member of each element that is an object); an array at the end gives its
 * elements. Absent members give nothing; a null member is the value null.
 */
export function leafValues(claims, path) {
  let nodes = [claims];
  for (const segment of path) {
    const found = [];
    for (const node of nodes) {
      if (isObject(node)) {
        if (hasOwn(node, segment)) found.push(node[segment]);
      } else if (Array.isArray(node)) {
        for (const element of node) {
          if (isObject(element) && hasOwn(element, segment)) found.push(element[segment]);
        }
      }
    }
    if (found.length === 0) return found;
    nodes = found;
  }
  const leaves = [];
  for (const node of nodes) {
    if (Array.isArray(node)) leaves.push(...node);
    else leaves.push(node);
  }
  return leaves;
}

// RFC 9110 token, upper-case only.
const METHOD = /^[!#$%&'*+.^_`|~0-9A-Z-]+$/;

/**
 * Why a request has more than one reading; null when it has exactly one
 * (docs/roles.md, edgeclaims.rbac.routes.ambiguity). `path` is the
 * percent-decoded path. A route rule protects every request the framework
 * would dispatch under it, and servers and frameworks disagree on dot and
 * empty segments, backslashes, bytes that are not UTF-8 and lower-case
 * methods — so such a request is refused, never matched by one reading.
 */
export function ambiguity(method, path) {
  if (typeof method !== 'string' || !METHOD.test(method)) return 'the method is not an upper-case token';
  if (!path.startsWith('/')) return 'the path is not absolute';
  if (path.includes('//')) return 'the path has an empty segment';
  if (path.includes('\\')) return 'the path has a backslash';
  if (path.includes('\ufffd')) return 'the path is not UTF-8';
  if (path.includes('/.') && path.split('/').some((segment) => segment === '.' || segment === '..')) {
    return 'the path has a dot segment';
  }
  return null;
}

/** The requirement of a request with no single reading: refused whoever asks (HTTP 400). */
export const AMBIGUOUS = Object.freeze({
  kind: 'ambiguous_request',
  roles: new Set(),
  permissions: new Set(),
  route: null,
});

// The exported regular expressions are written for both engines: anchored,
// `[\s\S]` for "any character", only ECMAScript syntax characters escaped,
// so they compile with the `u` flag (code points, like Python's `re`).
function compileRegex(source, where) {
  if (typeof source !== 'string' || !source.startsWith('^') || !source.endsWith('$')) {
    throw new TypeError(`${where}: expected an anchored regular expression`);
  }
  return new RegExp(source, 'u');
}

function compileCondition(condition, where) {
  if (!isObject(condition)) throw new TypeError(`${where}: not a condition`);
  if (condition.authenticated === true) return () => true;
  if (Array.isArray(condition.any) || Array.isArray(condition.all)) {
    const mode = Array.isArray(condition.any) ? 'any' : 'all';
    const items = condition[mode].map((item, i) => compileCondition(item, `${where}.${mode}[${i}]`));
    if (items.length === 0) throw new TypeError(`${where}: empty ${mode}`);
    return mode === 'any' ? (claims) => items.some((test) => test(claims)) : (claims) => items.every((test) => test(claims));
  }
  const path = condition.claim;
  if (!Array.isArray(path) || path.length === 0 || !path.every((s) => typeof s === 'string' && s)) {
    throw new TypeError(`${where}: claim must be a non-empty list of names`);
  }
  let matches;
  if (typeof condition.equals === 'string') {
    const pattern = condition.equals;
    matches = (text) => text === pattern;
  } else if (typeof condition.glob === 'string') {
    const regex = compileRegex(condition.regex, `${where}.regex`);
    matches = (text) => regex.test(text);
  } else {
    throw new TypeError(`${where}: needs equals or glob`);
  }
  return (claims) =>
    leafValues(claims, path).some((leaf) => {
      const text = scalarText(leaf);
      return text !== null && matches(text);
    });
}

function compileRequirement(document, where) {
  if (!isObject(document) || !['public', 'authenticated', 'roles'].includes(document.kind)) {
    throw new TypeError(`${where}: kind must be public, authenticated or roles`);
  }
  return Object.freeze({
    kind: document.kind,
    roles: new Set(document.roles || []),
    permissions: new Set(document.permissions || []),
    route: document.route ?? null,
  });
}

function compileRoute(document, where) {
  const requirement = compileRequirement(document, where);
  const regex = compileRegex(document.regex, `${where}.regex`);
  const methods = document.methods == null ? null : new Set(document.methods);
  return { methods, regex, requirement };
}

/**
 * Compile an exported policy document once (at EdgeWorker start-up).
 * Refuses another format or version: a newer document may mean something
 * this evaluator would get wrong.
 */
export function compilePolicy(document) {
  if (!isObject(document) || document.format !== EXPORT_FORMAT || document.version !== EXPORT_VERSION) {
    throw new TypeError(`policy: expected an ${EXPORT_FORMAT} document, version ${EXPORT_VERSION}`);
  }
  const roles = document.roles.map((role, i) => {
    const where = `roles[${i}]`;
    const any = role.any == null ? null : role.any.map((c, j) => compileCondition(c, `${where}.any[${j}]`));
    const all = role.all == null ? null : role.all.map((c, j) => compileCondition(c, `${where}.all[${j}]`));
    return { name: role.name, any, all, grants: role.grants && role.grants.length ? role.grants : [role.name] };
  });
  const order = new Map(roles.map((role, i) => [role.name, i]));
  const closures = new Map(roles.map((role) => [role.name, role.grants]));
  const permissions = new Map(document.permissions.map((entry) => [entry.role, entry.permissions]));
  const routes = document.routes.map((route, i) => compileRoute(route, `routes[${i}]`));
  const publicPaths = (document.public_paths || []).map((route, i) => compileRoute(route, `public_paths[${i}]`));
  const fallback = compileRequirement(document.default, 'default');
  const readClaims = new Set(document.overage_claims || []);

  /** The roles a verified identity holds, expanded through includes (declaration order). */
  function rolesFor(claims) {
    const granted = new Set();
    for (const role of roles) {
      if (role.any === null && role.all === null) continue; // granted only through includes
      const anyOk = role.any === null || role.any.some((test) => test(claims));
      const allOk = role.all === null || role.all.every((test) => test(claims));
      if (anyOk && allOk) for (const name of role.grants) granted.add(name);
    }
    return new Set([...granted].sort((a, b) => order.get(a) - order.get(b)));
  }

  /** Every permission of these roles and of the roles they include. */
  function permissionsFor(heldRoles) {
    const found = new Set();
    for (const role of heldRoles) {
      for (const expanded of closures.get(role) || []) {
        for (const permission of permissions.get(expanded) || []) found.add(permission);
      }
    }
    return found;
  }

  /**
   * The first route matching (method, path), else a public path, else the
   * default; AMBIGUOUS when the request has no single reading. The
   * document lists HEAD wherever a route names GET.
   */
  function requirementFor(method, path) {
    const whole = path || '/';
    if (ambiguity(method, whole) !== null) return AMBIGUOUS;
    for (const route of routes) {
      if ((route.methods === null || route.methods.has(method)) && route.regex.test(whole)) return route.requirement;
    }
    for (const route of publicPaths) {
      if (route.regex.test(whole)) return route.requirement;
    }
    return fallback;
  }

  /** Whether a verified identity with these roles and permissions meets a requirement. */
  function allows(requirement, heldRoles, heldPermissions) {
    if (requirement.kind !== 'roles') return true;
    for (const role of heldRoles) if (requirement.roles.has(role)) return true;
    for (const permission of heldPermissions) if (requirement.permissions.has(permission)) return true;
    return false;
  }

  /**
   * Claims that rules read but the identity provider left out (Entra ID
   * "overage": `_claim_names` instead of a too-large `groups`, or
   * `hasgroups: true`). Roles depending on them are not granted; say so.
   */
  function overage(claims) {
    if (!isObject(claims) || (!hasOwn(claims, '_claim_names') && !hasOwn(claims, 'hasgroups'))) return [];
    const found = new Set();
    const names = claims._claim_names;
    if (isObject(names)) for (const name of Object.keys(names)) if (readClaims.has(name)) found.add(name);
    if (claims.hasgroups === true && readClaims.has('groups')) found.add('groups');
    return [...found].sort();
  }

  /**
   * The whole verdict: { outcome: allow | unauthenticated | forbidden |
   * ambiguous_request, roles, permissions, route }.
   */
  function decide(claims, method, path) {
    const requirement = requirementFor(method, path);
    if (requirement === AMBIGUOUS) {
      return { outcome: 'ambiguous_request', roles: new Set(), permissions: new Set(), route: null };
    }
    if (claims == null) {
      const outcome = requirement.kind === 'public' ? 'allow' : 'unauthenticated';
      return { outcome, roles: new Set(), permissions: new Set(), route: requirement.route };
    }
    const held = rolesFor(claims);
    const heldPermissions = permissionsFor(held);
    const outcome = allows(requirement, held, heldPermissions) ? 'allow' : 'forbidden';
    return { outcome, roles: held, permissions: heldPermissions, route: requirement.route };
  }

  return Object.freeze({ rolesFor, permissionsFor, requirementFor, allows, overage, decide });
}
