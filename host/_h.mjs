const url = "http://127.0.0.1:8798/v1/execute";
const ex = async (code, timeoutMs = 2000) => {
  const t = Date.now();
  const r = await fetch(url, {
    method: "POST",
    headers: { authorization: "Bearer k", "content-type": "application/json" },
    body: JSON.stringify({ code, timeoutMs }),
  });
  const j = await r.json();
  return {
    ms: Date.now() - t,
    status: j.status,
    err: j.error?.message?.slice(0, 100),
    result: j.result,
  };
};
const cases = {
  sync: "while(true){}",
  regex: "/(a+)+$/.test('a'.repeat(34) + 'b')",
  heap: "const a = []; for (;;) a.push(new Array(1e6).fill(1))",
  buffers: "const a = []; for (;;) a.push(new ArrayBuffer(1e8))",
  recursion: "function f() { return f() + 1 } f()",
};
for (const [name, code] of Object.entries(cases)) {
  const hostile = ex(code);
  await new Promise((r) => setTimeout(r, 300));
  const n = await ex("1+1");
  const h = await hostile;
  const after = await ex("2+2");
  console.log(
    name,
    JSON.stringify(h),
    "neighbour",
    JSON.stringify(n),
    "after",
    after.status,
    after.ms,
  );
}
