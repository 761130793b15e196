// A session with one V8 inspector target (a workerd started with CORDON_INSPECT or
// CORDON_INSPECT_RUNNER): `send` a DevTools Protocol method and await its result.

/** The targets the inspector at `host:port` lists. */
export async function inspectorTargets(inspector) {
  return (await fetch(`http://${inspector}/json/list`)).json();
}

/** Opens a session with `target`: `{ send(method, params), close() }`. */
export async function openInspector(target) {
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  let lastId = 0;
  const pending = new Map();
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve) => {
        const id = ++lastId;
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}
