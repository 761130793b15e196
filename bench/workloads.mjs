// The workloads and the function that drives one of them against one system with autocannon.
import { randomBytes } from "node:crypto";
import autocannon from "autocannon";
import { contention } from "./systems.mjs";

/** In the order they run and are reported. */
export const WORKLOADS = [
  "healthz",
  "warm",
  "fresh",
  "session",
  "fetch",
  "python-fresh",
  "python-session",
];

/**
 * The Python workloads run on the systems that run Python (Cordon and the Python peers), and are
 * measured as issue 17 states their goals: p50 at one client, throughput at `PYTHON_CLIENTS`.
 */
export const PYTHON_WORKLOADS = ["python-fresh", "python-session"];
export const PYTHON_CLIENTS = 4;

export const WORKLOAD_INFO = {
  healthz: "GET /healthz: the HTTP stack alone, no code runs (the floor)",
  warm: "POST /v1/execute `1+1`, the same code every time (a cached, warm isolate may serve it)",
  fresh: "POST /v1/execute with unique code every time (`/* nonce */ n + 1`): nothing cached",
  session: "POST /v1/sessions/{id}/execute `base + 1` with `base` carried over from setup",
  fetch: "POST /v1/execute with code that does one allowed fetch to a loopback upstream",
  "python-fresh":
    'POST /v1/execute `{"language": "python"}` with unique code every time (`# fresh <nonce>` and `n + 1`)',
  "python-session":
    "POST /v1/sessions/{id}/execute Python `base + 1` with `base = 41` carried over from setup",
};

const PYTHON = "python";

const JSON_TYPE = { "content-type": "application/json" };

/** Parses a JSON body, or undefined. */
function parse(body) {
  try {
    return JSON.parse(String(body));
  } catch {
    return undefined;
  }
}

/** POSTs JSON to a system outside the timed run (probes and setup). */
async function post(system, path, body, headers = system.headers) {
  const res = await fetch(`${system.url}${path}`, {
    method: "POST",
    headers: { ...JSON_TYPE, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: parse(text) };
}

/** Checks an execution answer; records Cordon's own account of the run's time (`usage.wallMs`). */
const executeOk = (status, body, expected, wallMs) => {
  if (status !== 200) return false;
  const answer = parse(body);
  if (wallMs && typeof answer?.usage?.wallMs === "number") wallMs.push(answer.usage.wallMs);
  return answer?.status === "ok" && answer.result === expected;
};

/** A one-line account of an answer that was not what the workload expects. */
const describeAnswer = (status, text) => `${status} ${String(text).slice(0, 300)}`;

/**
 * Creates `count` sessions (plus `first`, one made already), each with one execution that leaves
 * `base = 41` for the next (`setup`: that execution's body, JavaScript's by default). Resolves
 * with `{ sessions }` or `{ error }`.
 */
export async function createSessions(
  system,
  count,
  { first, concurrency = 8, setup: setupBody = { code: "const base = 41;" } } = {},
) {
  const sessions = first ? [first] : [];
  let error;
  let left = count;
  const worker = async () => {
    while (left > 0 && !error) {
      left--;
      const res = await post(system, "/v1/sessions", {});
      if (res.status !== 201) {
        error = `creating sessions: ${describeAnswer(res.status, res.text)}`;
        return;
      }
      sessions.push(res.json);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (error) return { error };
  let next = 0;
  const setup = async () => {
    while (next < sessions.length && !error) {
      const s = sessions[next++];
      const res = await post(system, `/v1/sessions/${s.sessionId}/execute`, setupBody, {
        authorization: `Bearer ${s.token}`,
      });
      if (res.json?.status !== "ok") {
        error = `session setup failed: ${describeAnswer(res.status, res.text)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, setup));
  return error ? { error } : { sessions };
}

/** Deletes sessions a workload made (best effort: the server may be on its way down). */
function deleteSessions(system, sessions) {
  return Promise.all(
    sessions.map((s) =>
      fetch(`${system.url}/v1/sessions/${s.sessionId}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${s.token}` },
      }).catch(() => {}),
    ),
  );
}

/** Probes POST /v1/sessions once: `{ session }` if it made one, or `{ skip }` with the reason. */
export async function probeSessions(system) {
  const probe = await post(system, "/v1/sessions", {});
  if (probe.status === 404) return { skip: "POST /v1/sessions answers 404: no sessions yet" };
  if (probe.status !== 201 || !probe.json?.sessionId) {
    return { skip: `POST /v1/sessions answered ${describeAnswer(probe.status, probe.text)}` };
  }
  return { session: probe.json };
}

/**
 * What a workload sends and how its answers are checked, or `{ skip }` with the reason it cannot
 * run on this system. Setup requests (sessions, probes) happen here, outside the timed run.
 */
export async function plan(system, workload, { upstreamUrl, connections = 1 } = {}) {
  const execHeaders = { ...JSON_TYPE, ...system.headers };
  switch (workload) {
    case "healthz":
      return {
        request: { method: "GET", path: "/healthz", headers: system.headers },
        check: (status, body) => status === 200 && parse(body)?.ok === true,
      };
    case "warm": {
      const body = JSON.stringify({ code: "1+1" });
      return {
        request: { method: "POST", path: "/v1/execute", headers: execHeaders, body },
        check: (status, text, _context, wallMs) => executeOk(status, text, 2, wallMs),
      };
    }
    case "fresh": {
      // A nonce per plan keeps code unique across runs against the same server; the result
      // depends on the counter so a cached answer to other code would count as an error.
      const nonce = randomBytes(6).toString("hex");
      let counter = 0;
      return {
        request: {
          method: "POST",
          path: "/v1/execute",
          headers: execHeaders,
          setupRequest(req, context) {
            const n = ++counter;
            context.expected = n + 1;
            req.body = JSON.stringify({ code: `/* fresh ${nonce} */ ${n} + 1` });
            return req;
          },
        },
        check: (status, text, context, wallMs) => executeOk(status, text, context.expected, wallMs),
      };
    }
    case "session":
    case "python-session": {
      const probe = await probeSessions(system);
      if (probe.skip) return probe;
      const python = workload === "python-session";
      const setup = python ? { code: "base = 41", language: PYTHON } : { code: "const base = 41;" };
      // One session per connection: a session's executions queue behind each other.
      const created = await createSessions(system, connections - 1, {
        first: probe.session,
        setup,
      });
      if (created.error) return { skip: created.error };
      const { sessions } = created;
      const turn = python ? { code: "base + 1", language: PYTHON } : { code: "base + 1" };
      const body = JSON.stringify(turn);
      // One probe: a session that does not carry `base` over is "not supported yet", as for fetch.
      const [s0] = sessions;
      const check = await post(system, `/v1/sessions/${s0.sessionId}/execute`, turn, {
        authorization: `Bearer ${s0.token}`,
      });
      if (!executeOk(check.status, check.text, 42)) {
        await deleteSessions(system, sessions);
        return {
          skip: `not supported yet: \`base + 1\` after \`${setup.code}\` answered ${describeAnswer(check.status, check.text)}`,
        };
      }
      let next = 0;
      return {
        request: {
          method: "POST",
          body,
          setupRequest(req) {
            const s = sessions[next++ % sessions.length];
            req.path = `/v1/sessions/${s.sessionId}/execute`;
            req.headers = { ...JSON_TYPE, authorization: `Bearer ${s.token}` };
            return req;
          },
        },
        check: (status, text, _context, wallMs) => executeOk(status, text, 42, wallMs),
        cleanup: () => deleteSessions(system, sessions),
      };
    }
    case "python-fresh": {
      const nonce = randomBytes(6).toString("hex");
      // One probe first: a server without Python (an older build as cordon-baseline) is "not
      // supported", not thousands of errors. Its answer may take seconds: the first Python run
      // in a process makes that process's snapshot.
      const probe = await post(system, "/v1/execute", {
        code: `# fresh ${nonce} probe\n41 + 1`,
        language: PYTHON,
      });
      if (!executeOk(probe.status, probe.text, 42)) {
        return {
          skip: `no Python: the probe answered ${describeAnswer(probe.status, probe.text)}`,
        };
      }
      let counter = 0;
      return {
        request: {
          method: "POST",
          path: "/v1/execute",
          headers: execHeaders,
          setupRequest(req, context) {
            const n = ++counter;
            context.expected = n + 1;
            req.body = JSON.stringify({ code: `# fresh ${nonce}\n${n} + 1`, language: PYTHON });
            return req;
          },
        },
        check: (status, text, context, wallMs) => executeOk(status, text, context.expected, wallMs),
      };
    }
    case "fetch": {
      if (!upstreamUrl) return { skip: "no upstream" };
      const code = `fetch(${JSON.stringify(`${upstreamUrl}/n`)}).then((r) => r.json()).then((j) => j.n)`;
      // One probe first: egress a system refuses is "not supported yet", not thousands of errors.
      const probe = await post(system, "/v1/execute", { code });
      if (!executeOk(probe.status, probe.text, 42)) {
        const error = probe.json?.error;
        const why = error
          ? `${error.name}: ${error.message}`
          : describeAnswer(probe.status, probe.text);
        return {
          skip: `not supported yet: the probe answered ${probe.json?.status ?? probe.status} (${why})`,
        };
      }
      return {
        request: {
          method: "POST",
          path: "/v1/execute",
          headers: execHeaders,
          body: JSON.stringify({ code }),
        },
        check: (status, text, _context, wallMs) => executeOk(status, text, 42, wallMs),
      };
    }
    default:
      throw new Error(`unknown workload ${workload}`);
  }
}

/** The p-th percentile (0–100) of sorted numbers, nearest rank. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/**
 * Drives a planned workload for `seconds` (or `amount` requests) with `connections` concurrent
 * clients, each sending its next request when its answer arrives. Latency is recorded per 2xx
 * answer at autocannon's float precision (its own histogram rounds to whole ms).
 */
async function drive(system, workPlan, { seconds, connections, amount }) {
  const latencies = [];
  const wallMs = [];
  let correct = 0;
  let wrong = 0;
  let firstWrong;
  const request = {
    ...workPlan.request,
    onResponse(status, body, context) {
      if (workPlan.check(status, body, context, wallMs)) correct++;
      else {
        wrong++;
        firstWrong ??= describeAnswer(status, body);
      }
    },
  };
  const started = performance.now();
  const instance = autocannon({
    url: system.url,
    connections,
    ...(amount ? { amount } : { duration: seconds }),
    timeout: 30,
    requests: [request],
  });
  instance.on("response", (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  // autocannon resolves with its own result; it never rejects for answers, only for bad options.
  const result = await instance;
  return figures({
    elapsed: (performance.now() - started) / 1000,
    latencies,
    wallMs,
    correct,
    wrong,
    firstWrong,
    transportErrors: result.errors,
    timeouts: result.timeouts,
  });
}

/**
 * Drives a planned workload the way a slow one needs: `connections` clients each send their next
 * request when their answer arrives until `seconds` are up, and every request sent by then is
 * waited for and counted, the time running until the last answer. With autocannon's fixed
 * duration, requests in flight at the end are dropped: harmless at thousands per second, but at
 * a few per second (a Python run takes hundreds of milliseconds, a Pyodide load seconds) it
 * would undercount throughput by up to one request per client.
 */
async function driveUntilAnswered(system, workPlan, { seconds, connections }) {
  const latencies = [];
  const wallMs = [];
  let correct = 0;
  let wrong = 0;
  let transportErrors = 0;
  let timeouts = 0;
  let firstWrong;
  const started = performance.now();
  const until = started + seconds * 1000;
  const client = async () => {
    while (performance.now() < until) {
      const { method, path, headers, body, setupRequest } = workPlan.request;
      const context = {};
      const req = setupRequest
        ? setupRequest({ method, path, headers, body }, context)
        : { method, path, headers, body };
      const sent = performance.now();
      try {
        const res = await fetch(`${system.url}${req.path}`, {
          method: req.method,
          headers: req.headers,
          body: req.body,
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        if (res.status >= 200 && res.status < 300) latencies.push(performance.now() - sent);
        if (workPlan.check(res.status, text, context, wallMs)) correct++;
        else {
          wrong++;
          firstWrong ??= describeAnswer(res.status, text);
        }
      } catch (err) {
        transportErrors++;
        if (err?.name === "TimeoutError") timeouts++;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  return figures({
    elapsed: (performance.now() - started) / 1000,
    latencies,
    wallMs,
    correct,
    wrong,
    firstWrong,
    transportErrors,
    timeouts,
  });
}

/** A measurement's figures from its raw counts and latencies (ms). */
function figures({
  elapsed,
  latencies,
  wallMs,
  correct,
  wrong,
  firstWrong,
  transportErrors,
  timeouts,
}) {
  latencies.sort((a, b) => a - b);
  wallMs.sort((a, b) => a - b);
  const round = (v) => (v === null ? null : Math.round(v * 1000) / 1000);
  return {
    seconds: Math.round(elapsed * 1000) / 1000,
    requests: correct + wrong,
    correct,
    errors: wrong + transportErrors,
    transportErrors,
    timeouts,
    firstError:
      firstWrong ??
      (transportErrors ? `${transportErrors} connection errors or timeouts` : undefined) ??
      // Every request outlasted the run (a slow system with many clients): say so, not "0 errors".
      (correct === 0 ? "no answer arrived within the run" : undefined),
    // Two decimals: a Python peer serves well under one per second.
    rps: Math.round((correct / elapsed) * 100) / 100,
    p50: round(percentile(latencies, 50)),
    p90: round(percentile(latencies, 90)),
    p99: round(percentile(latencies, 99)),
    max: round(latencies.at(-1) ?? null),
    // The server's own account (Cordon's usage.wallMs: compile, load and run), where it gives one.
    wallMsP50: wallMs.length > 0 ? percentile(wallMs, 50) : null,
  };
}

/**
 * Runs one workload against one system: plans it (or reports why it is skipped), warms up for
 * `warmupSeconds` untimed (or with `warmupAmount` requests, all answered before the measurement
 * starts: a slow workload's requests still running would slow it), then measures for `seconds`
 * (or `amount` requests; or, with `untilAnswered`, for `seconds` and then until every request
 * sent is answered: see driveUntilAnswered).
 *
 * `system` is `{ name, url, headers }`. Answers that are not 2xx or not the expected result are
 * counted in `errors`; `rps` counts only correct answers.
 */
export async function runWorkload(
  system,
  workload,
  {
    seconds = 5,
    connections = 16,
    warmupSeconds = 0,
    warmupAmount,
    amount,
    untilAnswered = false,
    upstreamUrl,
  } = {},
) {
  const base = { system: system.name, workload, connections };
  const workPlan = await plan(system, workload, { upstreamUrl, connections });
  if (workPlan.skip) return { ...base, supported: false, note: workPlan.skip };
  try {
    if (warmupAmount > 0) {
      await drive(system, workPlan, { amount: warmupAmount, connections });
    } else if (warmupSeconds > 0) {
      await drive(system, workPlan, { seconds: warmupSeconds, connections });
    }
    const busy = contention();
    const measured = untilAnswered
      ? await driveUntilAnswered(system, workPlan, { seconds, connections })
      : await drive(system, workPlan, { seconds, connections, amount });
    // How much of the machine other processes took meanwhile: the figures are only as good as it.
    const { otherShare } = busy();
    return { ...base, supported: true, ...measured, otherShare };
  } finally {
    await workPlan.cleanup?.();
  }
}
