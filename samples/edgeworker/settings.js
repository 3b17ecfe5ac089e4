// Bundled, non-secret settings of this EdgeWorker. Secrets and the choices
// that differ per property (key, key id, algorithm, wire format, path form)
// are Property Manager user variables instead: see README.md.

export default {
  // --- the user's OIDC ID token ------------------------------------------------
  // Exact `iss` of your identity provider's ID tokens.
  issuer: 'https://login.example.com/oauth2/default',
  // Your OIDC client id(s): the token's `aud` must hold one (and `azp`, when
  // present, must be one).
  audiences: ['0oa-your-client-id'],
  // The allow-list of signature algorithms. Never taken from the token;
  // `none` does not exist. RS256 and ES256 cover Okta, Entra ID, Auth0,
  // Keycloak and Google; PS256 is also understood.
  algorithms: ['RS256'],
  // Clock skew tolerated on exp / nbf / iat, in seconds.
  leeway: 60,
  // Refuse tokens issued longer ago than this many seconds (null: only `exp`).
  maxAge: null,
  // Where the token comes from: `Authorization: Bearer …`, then this cookie.
  acceptBearer: true,
  cookieName: 'id_token',

  // --- what the origin receives ------------------------------------------------
  // Claims copied from the ID token into X-Edge-Claims. Keep it short:
  // http.sys allows 16 KiB for all request headers by default.
  forwardClaims: ['sub', 'iss', 'aud', 'exp', 'email', 'email_verified', 'name', 'preferred_username', 'groups', 'roles'],
  // Same as the origin's `max_claims_bytes` (decoded JSON); larger → 431.
  maxClaimsBytes: 8192,
  // The JWS form (PMUSER_EDGECLAIMS_FORMAT = "jws"): registered claims of the
  // X-Edge-Jwt assertion, matching the origin's `jws` source settings.
  jws: {
    issuer: 'https://edge.example.com',
    audience: 'orders-app',
    ttl: 30,
    // htm/htu request binding (spec/signed-headers.md §2 rule 4); `scheme`
    // is the scheme the origin sees in htu.
    bindRequest: true,
    scheme: 'https',
  },
};
