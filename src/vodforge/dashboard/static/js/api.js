// Calls to the vodforge API with the signed-in key in the Authorization header (never in a
// URL), and its one error shape {"error": {"code", "message"}} turned into ApiError.

const KEY_STORAGE = "vodforge.apiKey";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// sessionStorage: the key lives as long as the tab, and no other site can read it.
export function storedKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

export function authHeaders(key = storedKey()) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export async function errorFrom(response) {
  let code = `HTTP_${response.status}`;
  let message = response.statusText || "request failed";
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    // Not our JSON (a proxy's page): keep the status line.
  }
  return new ApiError(response.status, code, message);
}

export async function apiCall(path, { method = "GET", key } = {}) {
  const response = await fetch(path, {
    method,
    headers: { Accept: "application/json", ...authHeaders(key) },
    cache: "no-store",
  });
  if (!response.ok) {
    throw await errorFrom(response);
  }
  return response.status === 204 ? null : response.json();
}

export const api = {
  checkKey: (key) => apiCall("/v1/videos?limit=1", { key }),
  video: (id) => apiCall(`/v1/videos/${encodeURIComponent(id)}`),
  events: (id) => apiCall(`/v1/videos/${encodeURIComponent(id)}/events`),
  cancel: (id) => apiCall(`/v1/videos/${encodeURIComponent(id)}/cancel`, { method: "POST" }),
  retry: (id) => apiCall(`/v1/videos/${encodeURIComponent(id)}/retry`, { method: "POST" }),
  remove: (id) => apiCall(`/v1/videos/${encodeURIComponent(id)}`, { method: "DELETE" }),
};
