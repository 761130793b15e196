// Where a Cordon process spends its CPU: connects to the V8 inspector of a server started with
// CORDON_INSPECT=127.0.0.1:9229 (the control plane) or CORDON_INSPECT_RUNNER=127.0.0.1:9230 and
// CORDON_ISOLATION=process (runner 0), samples for a few seconds while you put load on it, and
// prints the functions with the most self time.
//
//   node bench/profile.mjs [host:port] [seconds]
import { inspectorTargets, openInspector } from "./inspector.mjs";

const [inspector = "127.0.0.1:9229", seconds = "5"] = process.argv.slice(2);
const target = (await inspectorTargets(inspector))[0];
if (!target) throw new Error(`no inspector target at ${inspector}`);
const { send, close } = await openInspector(target);

await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 200 });
await send("Profiler.start");
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1000));
const { profile } = await send("Profiler.stop");
close();

const self = new Map();
let total = 0;
for (const node of profile.nodes) {
  const { functionName, url, lineNumber } = node.callFrame;
  const key = `${functionName || "(anonymous)"} ${url.split("/").pop()}:${lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + node.hitCount);
  total += node.hitCount;
}
for (const [key, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  console.log(`${((100 * hits) / total).toFixed(1).padStart(5)} %  ${key}`);
}
