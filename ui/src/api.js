// The server's HTTP API as the pages call it. Requests are same-origin, so a browser that
// signed in with basic auth sends the credential with each of them.

/** An API failure: the server's message, its HTTP status and Prometheus error type. */
export class ApiError extends Error {
  constructor(message, status, errorType) {
    super(message);
    this.status = status;
    this.errorType = errorType;
  }
}

async function parse(res) {
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: a proxy's page, a 401 without a body, a plain-text error
  }
  if (!res.ok || (body && body.status === "error")) {
    const message =
      (body && (body.error || body.message)) ||
      (res.status === 401 ? "not signed in: this server needs a read credential" :
       res.status === 403 ? "forbidden: this needs a credential with more rights (admin)" :
       text.trim() || `HTTP ${res.status}`);
    throw new ApiError(message, res.status, body && body.errorType);
  }
  // Prometheus's API wraps answers in {status, data}; Alertmanager's v2 API does not
  return body && typeof body === "object" && "status" in body && "data" in body ? body.data : body;
}

/** GET `path` with query parameters (arrays repeat the key). */
export async function get(path, params = {}, signal) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) qs.append(k, String(x));
  }
  const q = qs.toString();
  const res = await fetch(q ? `${path}?${q}` : path, { signal, headers: { Accept: "application/json" } });
  return parse(res);
}

/** POST a form (Prometheus's query endpoints take long expressions this way). */
export async function postForm(path, params, signal) {
  const res = await fetch(path, {
    method: "POST",
    signal,
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: new URLSearchParams(params).toString(),
  });
  return parse(res);
}

/** A JSON request (Alertmanager's v2 API). */
export async function sendJson(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return parse(res);
}
