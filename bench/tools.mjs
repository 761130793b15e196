// Workload `tool`: what one callback tool round trip costs. Streamed executions against
// `npm start` on loopback, interleaved so both kinds see the same load: the baseline runs code
// without tools, the `tool` run calls one callback tool (the client answers at once). Reports
// p50s: each kind's wall time, the answer's POST, the call as the server timed it (event out to
// answer in), and the difference of the two kinds' walls (the round trip's whole cost, the
// client's side of it on loopback included: an upper bound on the server's time per call).
//
//   node bench/tools.mjs                       # BENCH_TOOL_RUNS=200 by default; dist/ built
import { startCordon } from "./systems.mjs";

const RUNS = Number(process.env.BENCH_TOOL_RUNS || 200);
const WARMUP = 20;
const TOOLS = { codemode: { echo: {} } };

const cordon = await startCordon({ name: "cordon-tool" });

/** One streamed execution; each tool call is answered with its own argument. */
async function once(body) {
  const started = performance.now();
  const res = await fetch(`${cordon.url}/v1/execute`, {
    method: "POST",
    headers: { ...cordon.headers, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
  const decoder = new TextDecoder();
  let buffer = "";
  let answerMs = 0;
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null");
      if (event === "tool_call") {
        const posted = performance.now();
        const answer = await fetch(
          `${cordon.url}/v1/executions/${data.executionId}/tool-calls/${data.callId}`,
          {
            method: "POST",
            headers: { ...cordon.headers, "content-type": "application/json" },
            body: JSON.stringify({ result: data.args }),
          },
        );
        if (answer.status !== 204) throw new Error(`answer: ${answer.status}`);
        answerMs = performance.now() - posted;
      }
      if (event === "result") {
        if (data.status !== "ok") throw new Error(`run: ${JSON.stringify(data)}`);
        return { wallMs: performance.now() - started, answerMs, callMs: data.tools?.[0]?.ms ?? 0 };
      }
    }
  }
  throw new Error("the stream ended without a result");
}

const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const fmt = (ms) => `${ms.toFixed(2)} ms`;

try {
  const base = [];
  const tool = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const a = await once({ code: "const x = 1;\nx" });
    const b = await once({ code: "await codemode.echo(1)", tools: TOOLS });
    if (i >= WARMUP) {
      base.push(a);
      tool.push(b);
    }
  }
  const baseWall = p50(base.map((r) => r.wallMs));
  const toolWall = p50(tool.map((r) => r.wallMs));
  console.log(`tool workload, ${RUNS} runs of each kind, interleaved, sequential, loopback`);
  console.log(`  baseline (no tools) p50 wall      ${fmt(baseWall)}`);
  console.log(`  one tool round trip p50 wall      ${fmt(toolWall)}`);
  console.log(`  round trip's cost (difference)    ${fmt(toolWall - baseWall)}`);
  console.log(`  answer POST p50 (client-timed)    ${fmt(p50(tool.map((r) => r.answerMs)))}`);
  console.log(
    `  call p50 (server-timed, event→answer) ${p50(tool.map((r) => r.callMs))} ms (whole ms)`,
  );
} finally {
  await cordon.stop();
}
