// The EdgeWorker's two event handlers, built from bundled settings, the
// identity provider's JWKS and the origin's exported route policy.
//
// onClientRequest (every request, before the cache):
//   1. remove every client-sent copy of an identity header, in every
//      spelling (X_Edge_Claims reaches a CGI environ as HTTP_X_EDGE_CLAIMS
//      just like X-Edge-Claims: reference/iis.md), and X-Original-URL,
//      which wfastcgi would route on;
//   2. validate the user's ID token (Authorization: Bearer, or a cookie);
//      an invalid token is a 401, never "anonymous";
//   3. apply the route policy with the same decisions as the origin;
//   4. hand the forwarded claims to onOriginRequest.
// onOriginRequest (only when the request goes forward to the origin):
//   5. sign the RFC 9421 profile (or emit the JWS form) with the key from
//      a PMUSER_ variable, binding the claims to this method/host/path/query.
//
// Handing over between the two handlers: the claims travel in the
// X-Edge-Claims request header, and a SHA-256 of that value travels in the
// PMUSER_EDGECLAIMS_STATE variable, which no client can set. If
// onClientRequest did not run to completion (an EdgeWorkers error lets the
// request continue without it), the variable is missing and nothing is
// signed: a header a client smuggled through is stripped, not signed.

import { crypto } from 'crypto';
import { logger } from 'log';
import { fromBase64url, fromUtf8, fromUtf8Lenient, toBase64url, utf8 } from './bytes.js';
import { EdgeConfigError, importSigningKey } from './keys.js';
import { createTokenVerifier, TokenError } from './oidc.js';
import {
  authorityOf,
  CLAIMS_HEADER,
  encodeClaims,
  JWT_HEADER,
  newNonce,
  percentDecodeToBytes,
  signJwt,
  signRequest,
} from './signing.js';

/** Lower-cased names (underscores read as dashes) removed from every request. */
export const IDENTITY_HEADERS = Object.freeze([
  'x-edge-claims',
  'signature',
  'signature-input',
  'x-edge-jwt',
  'x-original-url',
  'x-rewrite-url',
]);

export const VARIABLES = Object.freeze({
  key: 'PMUSER_EDGECLAIMS_KEY',
  keyId: 'PMUSER_EDGECLAIMS_KEY_ID',
  alg: 'PMUSER_EDGECLAIMS_ALG',
  format: 'PMUSER_EDGECLAIMS_FORMAT',
  pathForm: 'PMUSER_EDGECLAIMS_PATH_FORM',
  authority: 'PMUSER_EDGECLAIMS_AUTHORITY',
  state: 'PMUSER_EDGECLAIMS_STATE',
});

const DEFAULT_FORWARDED_CLAIMS = Object.freeze([
  'sub', 'iss', 'aud', 'exp', 'email', 'email_verified', 'name', 'preferred_username', 'groups', 'roles',
]);

const TITLES = {
  missing: 'No identity',
  malformed: 'Malformed ID token',
  ambiguous: 'Ambiguous ID token',
  unknown_key: 'Unknown key',
  algorithm_not_allowed: 'Algorithm not allowed',
  bad_signature: 'Bad signature',
  expired: 'Identity expired',
  not_yet_valid: 'Identity not yet valid',
  bad_issuer: 'Unexpected issuer',
  bad_audience: 'Unexpected audience',
  too_large: 'Identity too large',
  forbidden: 'Forbidden',
  ambiguous_request: 'Ambiguous request path or method',
  edge_misconfigured: 'Edge misconfigured',
  edge_error: 'Edge error',
};
const STATUS = { ambiguous_request: 400, forbidden: 403, too_large: 431, edge_misconfigured: 500, edge_error: 500 };

/**
 * Build { onClientRequest, onOriginRequest }.
 *
 * options: { settings, jwks, policy (compiled, see policy.js), clock }
 * `clock` returns seconds since the epoch (injected so tests never sleep).
 */
export function createEdgeClaims({ settings, jwks, policy, clock = () => Date.now() / 1000 }) {
  const verifyToken = createTokenVerifier({ ...settings, jwks });
  const forwarded = settings.forwardClaims || DEFAULT_FORWARDED_CLAIMS;
  const maxClaimsBytes = settings.maxClaimsBytes ?? 8192;
  const cookieName = settings.cookieName === undefined ? 'id_token' : settings.cookieName;
  const acceptBearer = settings.acceptBearer !== false;

  // The verified claims to forward, or null for no identity; throws
  // TokenError for a token that must be refused.
  async function identify(request, requirement) {
    let fromCookie = false;
    try {
      const token = findToken(request, acceptBearer, cookieName);
      if (token === null) return null;
      fromCookie = token.fromCookie;
      return pick(await verifyToken(token.value, clock()), forwarded);
    } catch (error) {
      // A stale session cookie must not lock a browser out of public pages
      // (the login page among them): there it counts as no identity, and
      // nothing is forwarded. A token the client presented explicitly
      // (Authorization: Bearer) is refused everywhere.
      const cookie = fromCookie || (error instanceof TokenError && error.fromCookie);
      if (!(error instanceof TokenError && cookie && requirement.kind === 'public')) throw error;
      logger.log('edgeclaims: ignored an invalid session cookie on a public route: %s', error.code);
      return null;
    }
  }

  async function onClientRequest(request) {
    try {
      stripIdentityHeaders(request);
      const requirement = policy.requirementFor(request.method, routePath(request.path));
      // A path or method with no single reading never reaches the origin,
      // which would refuse it the same way (docs/roles.md).
      if (requirement.kind === 'ambiguous_request') return refuse(request, 'ambiguous_request');
      const claims = await identify(request, requirement);
      if (claims === null) {
        if (requirement.kind !== 'public') return refuse(request, 'missing');
        request.setVariable(VARIABLES.state, 'anonymous');
        return undefined;
      }
      const claimsValue = encodeClaims(claims);
      if (fromBase64url(claimsValue).length > maxClaimsBytes) return refuse(request, 'too_large');
      const withheld = policy.overage(claims);
      if (withheld.length) {
        logger.log('edgeclaims: the identity provider withheld %s (overage); roles needing them are not granted', withheld.join(', '));
      }
      if (requirement.kind !== 'public') {
        const roles = policy.rolesFor(claims);
        if (!policy.allows(requirement, roles, policy.permissionsFor(roles))) return refuse(request, 'forbidden');
      }
      request.setHeader(CLAIMS_HEADER, claimsValue);
      request.setVariable(VARIABLES.state, await stateFor(claimsValue));
      return undefined;
    } catch (error) {
      if (error instanceof TokenError) return refuse(request, error.code);
      logger.log('edgeclaims: onClientRequest failed: %s', error && error.name);
      return refuse(request, 'edge_error');
    }
  }

  async function onOriginRequest(request) {
    try {
      const state = variable(request, VARIABLES.state);
      const values = request.getHeader(CLAIMS_HEADER) || [];
      stripIdentityHeaders(request);
      if (!state || state === 'anonymous') return undefined;
      // Sign only the exact value onClientRequest produced for this request.
      if (values.length !== 1 || state !== (await stateFor(values[0]))) {
        logger.log('edgeclaims: claims hand-over did not match; forwarding without identity');
        return undefined;
      }
      const config = readSigningConfig(request);
      const key = await importSigningKey(config.alg, config.keyText, VARIABLES.key);
      const now = Math.floor(clock());
      if (config.format === 'jws') {
        request.setHeader(JWT_HEADER, await jwtFor(request, values[0], config, key, now));
        return undefined;
      }
      const headers = await signRequest({
        request: { method: request.method, authority: config.authority, path: request.path, query: request.query },
        claimsValue: values[0],
        alg: config.alg,
        keyId: config.keyId,
        key,
        created: now,
        nonce: newNonce(),
        pathForm: config.pathForm,
      });
      request.setHeader(CLAIMS_HEADER, values[0]);
      request.setHeader('Signature-Input', headers['Signature-Input']);
      request.setHeader('Signature', headers.Signature);
      return undefined;
    } catch (error) {
      // Never a secret in the log: EdgeConfigError messages name settings only.
      logger.log('edgeclaims: onOriginRequest failed: %s', error instanceof EdgeConfigError ? error.message : error && error.name);
      return refuse(request, error instanceof EdgeConfigError ? 'edge_misconfigured' : 'edge_error');
    }
  }

  // The JWS form (spec/signed-headers.md §2) of the claims onClientRequest produced.
  function jwtFor(request, claimsValue, config, key, now) {
    const jws = settings.jws || {};
    const binding = jws.bindRequest === false
      ? null
      : { method: request.method, htu: `${jws.scheme || 'https'}://${config.authority}${request.path}` };
    return signJwt({
      claims: JSON.parse(fromUtf8(fromBase64url(claimsValue))),
      alg: config.alg,
      keyId: config.keyId,
      key,
      now,
      ttl: jws.ttl ?? 30,
      issuer: jws.issuer,
      audience: jws.audience,
      binding,
    });
  }

  return { onClientRequest, onOriginRequest };
}

// --- request helpers ---------------------------------------------------------

/** Remove every spelling of every identity header (dash, underscore, any case). */
export function stripIdentityHeaders(request) {
  const names = new Set(IDENTITY_HEADERS);
  const present = request.getHeaders ? request.getHeaders() || {} : {};
  for (const name of Object.keys(present)) {
    if (names.has(name.toLowerCase().replace(/_/g, '-'))) request.removeHeader(name);
  }
  // getHeaders() may not list every spelling on every runtime; also remove
  // the common ones by name.
  for (const name of IDENTITY_HEADERS) {
    request.removeHeader(name);
    request.removeHeader(name.replace(/-/g, '_'));
  }
}

/**
 * The path the route policy judges: percent-decoded like the path a WSGI or
 * ASGI server hands the application (invalid UTF-8 becomes U+FFFD, as with
 * Python's "replace"). The policy removes dot segments itself.
 */
export function routePath(rawPath) {
  return fromUtf8Lenient(percentDecodeToBytes(rawPath || '/')) || '/';
}

function findToken(request, acceptBearer, cookieName) {
  if (acceptBearer) {
    const authorization = request.getHeader('Authorization') || [];
    const bearer = authorization.filter((value) => /^bearer\s/i.test(value.trim()));
    if (bearer.length > 1) throw new TokenError('ambiguous', 'more than one bearer token');
    if (bearer.length === 1) return { value: bearer[0].trim().slice(6).trim(), fromCookie: false };
  }
  if (cookieName) {
    const found = cookieValues(request.getHeader('Cookie') || [], cookieName);
    // Two cookies of one name (a sibling subdomain can plant one): refuse
    // rather than guess which the browser meant.
    if (found.length > 1) {
      const error = new TokenError('ambiguous', 'the ID token cookie arrived more than once');
      error.fromCookie = true;
      throw error;
    }
    if (found.length === 1) return { value: found[0], fromCookie: true };
  }
  return null;
}

function cookieValues(lines, name) {
  const found = [];
  for (const line of lines) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      if (pair.slice(0, eq).trim() === name) {
        found.push(pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'));
      }
    }
  }
  return found;
}

function pick(claims, names) {
  const out = {};
  for (const name of names) {
    if (Object.prototype.hasOwnProperty.call(claims, name)) out[name] = claims[name];
  }
  return out;
}

async function stateFor(claimsValue) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(claimsValue)));
  return `v1.${toBase64url(digest)}`;
}

function variable(request, name) {
  const value = request.getVariable(name);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function readSigningConfig(request) {
  const format = variable(request, VARIABLES.format) || 'rfc9421';
  if (format !== 'rfc9421' && format !== 'jws') {
    throw new EdgeConfigError(`${VARIABLES.format} must be "rfc9421" or "jws"`);
  }
  const pathForm = variable(request, VARIABLES.pathForm) || 'exact';
  if (pathForm !== 'exact' && pathForm !== 'normalized') {
    throw new EdgeConfigError(`${VARIABLES.pathForm} must be "exact" or "normalized"`);
  }
  const keyId = variable(request, VARIABLES.keyId);
  if (!keyId) throw new EdgeConfigError(`${VARIABLES.keyId} is not set`);
  const keyText = variable(request, VARIABLES.key);
  if (!keyText) throw new EdgeConfigError(`${VARIABLES.key} is not set`);
  return {
    format,
    pathForm,
    keyId,
    keyText,
    alg: variable(request, VARIABLES.alg) || 'hmac-sha256',
    authority: variable(request, VARIABLES.authority) || authorityOf(request.host, request.scheme),
  };
}

function refuse(request, code) {
  const status = STATUS[code] || 401;
  const body = JSON.stringify({
    type: `https://edgeclaims.dev/errors/${code}`,
    title: TITLES[code] || 'Unauthorized',
    status,
    code,
  });
  const headers = { 'Content-Type': ['application/problem+json'], 'Cache-Control': ['no-store'] };
  if (status === 401) {
    headers['WWW-Authenticate'] = [code === 'missing' ? 'Bearer' : 'Bearer error="invalid_token"'];
  }
  logger.log('edgeclaims: refused %s code=%s', request.method, code);
  request.respondWith(status, headers, body);
  return undefined;
}
