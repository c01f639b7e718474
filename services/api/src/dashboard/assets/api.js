// Talking to the API: the operator key lives in sessionStorage (it arrives as
// #key=... in the URL npm start prints; the fragment never reaches a server)
// and goes out only as an Authorization header to this origin.

const STORE = 'hwledger.operatorKey';

export function takeKeyFromFragment() {
  const m = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(STORE, decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
}

export const getKey = () => sessionStorage.getItem(STORE) ?? '';
export const setKey = (k) => sessionStorage.setItem(STORE, k.trim());
export const clearKey = () => sessionStorage.removeItem(STORE);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function getJson(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${getKey()}`, accept: 'application/json' }, cache: 'no-store' });
  let body;
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  if (!res.ok) throw new ApiError(res.status, body.code ?? 'ERROR', body.message ?? `HTTP ${res.status}`);
  return body;
}
