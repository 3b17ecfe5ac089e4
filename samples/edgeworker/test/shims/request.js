// A small stand-in for the EdgeWorkers request object: the properties and
// methods the edgeclaims EdgeWorker uses, with EdgeWorkers' semantics —
// header names case-insensitive, getHeader() an array of values or null,
// getVariable() only PMUSER_ names, respondWith() recorded.

export class MockRequest {
  constructor({ method = 'GET', scheme = 'https', host = 'app.example.com', path = '/', query = '', headers = {}, variables = {} } = {}) {
    this.method = method;
    this.scheme = scheme;
    this.host = host;
    this.path = path;
    this.query = query;
    this.url = query ? `${path}?${query}` : path;
    this.headers = new Map(); // lower-cased name → { name, values }
    for (const [name, value] of Object.entries(headers)) this.addHeader(name, value);
    this.variables = new Map(Object.entries(variables));
    this.response = null;
  }

  getHeader(name) {
    const entry = this.headers.get(name.toLowerCase());
    return entry ? [...entry.values] : null;
  }

  getHeaders() {
    const all = {};
    for (const { name, values } of this.headers.values()) all[name.toLowerCase()] = [...values];
    return all;
  }

  setHeader(name, value) {
    this.headers.set(name.toLowerCase(), { name, values: Array.isArray(value) ? [...value] : [String(value)] });
  }

  addHeader(name, value) {
    const entry = this.headers.get(name.toLowerCase());
    const values = Array.isArray(value) ? value.map(String) : [String(value)];
    if (entry) entry.values.push(...values);
    else this.headers.set(name.toLowerCase(), { name, values });
  }

  removeHeader(name) {
    this.headers.delete(name.toLowerCase());
  }

  getVariable(name) {
    return this.variables.get(name);
  }

  setVariable(name, value) {
    if (!name.startsWith('PMUSER_')) throw new Error('setVariable: only PMUSER_ variables');
    this.variables.set(name, String(value));
  }

  respondWith(status, headers, body) {
    if (typeof body === 'string' && body.length > 2048) throw new Error('respondWith: body over 2K characters');
    this.response = { status, headers, body };
  }

  wasTerminated() {
    return this.response !== null;
  }

  /** The headers as the origin would receive them: { name: value } (values joined by ", "). */
  originHeaders() {
    const out = {};
    for (const { name, values } of this.headers.values()) out[name] = values.join(', ');
    return out;
  }
}
