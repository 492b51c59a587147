// The API client: JSON over fetch with the bearer token kept in
// localStorage, and the event stream read with fetch (EventSource cannot
// send a token), resumed from the last seq after a disconnect.

const KEY = 'mycelium.token';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return localStorage.getItem(KEY) || '';
}

export function setToken(value) {
  if (value) localStorage.setItem(KEY, value.trim());
  else localStorage.removeItem(KEY);
}

function headers(extra) {
  const h = Object.assign({ accept: 'application/json' }, extra || {});
  const t = token();
  if (t) h.authorization = 'Bearer ' + t;
  return h;
}

export async function get(path) {
  const res = await fetch(path, { headers: headers() });
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new ApiError(res.status, body.error || res.statusText);
  return body;
}

export async function post(path, doc) {
  const res = await fetch(path, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: doc === undefined ? '{}' : JSON.stringify(doc),
  });
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new ApiError(res.status, body.error || res.statusText);
  return body;
}

export async function del(path) {
  const res = await fetch(path, { method: 'DELETE', headers: headers() });
  const body = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new ApiError(res.status, body.error || res.statusText);
  return body;
}

// Follows the event stream (optionally of one run) from now, calling
// onEvent(event) for each event and onState(true|false) as the stream comes
// and goes. Returns a function that stops it.
export function follow(params, onEvent, onState) {
  let stopped = false;
  let last = null;
  const controller = new AbortController();
  (async () => {
    while (!stopped) {
      try {
        const q = new URLSearchParams(params || {});
        const h = headers({ accept: 'text/event-stream' });
        if (last !== null) h['last-event-id'] = String(last);
        const res = await fetch('/api/events/stream?' + q, { headers: h, signal: controller.signal });
        if (!res.ok || !res.body) throw new ApiError(res.status, 'event stream refused');
        onState(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let data = null;
            for (const line of block.split('\n')) {
              if (line.startsWith('id:')) last = Number(line.slice(3).trim());
              else if (line.startsWith('data:')) data = (data === null ? '' : data + '\n') + line.slice(5).trim();
            }
            if (data !== null) onEvent(JSON.parse(data));
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      onState(false);
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return () => {
    stopped = true;
    controller.abort();
  };
}
