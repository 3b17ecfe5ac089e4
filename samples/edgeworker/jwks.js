// The identity provider's public signing keys (its JWKS document), bundled
// with the EdgeWorker. EdgeWorkers import JavaScript modules, not JSON, so
// the document is the default export. Refresh it when the provider rotates
// keys (see README.md, "Identity provider keys"; EdgeKV variant there too).
//
// Empty on purpose: until you paste your provider's keys, every ID token is
// refused (401) — fail closed, never open.

export default {
  keys: [],
};
