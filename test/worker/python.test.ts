// Python in a Worker Loader isolate: Pyodide started from its memory snapshot, the Python harness,
// the real gateway and log sink (src/sandbox/runtimes/python/).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { runPy } from "./python-helpers";

describe("results", () => {
  it("answers the value of the last expression, as Jupyter shows it", async () => {
    expect(await runPy("x = 20\nx + 22")).toMatchObject({ status: "ok", result: 42 });
    // A trailing semicolon, an assignment or a statement shows nothing.
    expect(await runPy("x = 1\nx + 1;")).toMatchObject({ status: "ok", result: null });
    expect(await runPy("y = 3")).toMatchObject({ status: "ok", result: null });
    expect(await runPy("for i in range(3):\n    i")).toMatchObject({ status: "ok", result: null });
  });

  it("awaits at the top level", async () => {
    const r = await runPy(
      "import asyncio\nawait asyncio.sleep(0.01)\nawait asyncio.gather(*(asyncio.sleep(0, i) for i in range(3)))",
    );
    expect(r).toMatchObject({ status: "ok", result: [0, 1, 2] });
  });

  it("converts the value to JSON by the written rule", async () => {
    const code = [
      "import datetime, math",
      "{",
      "  'none': None, 'bools': [True, False], 'int': 7, 'float': 1.5, 'str': 'é\\u2028',",
      "  'tuple': (1, 2), 'big': 2**70, 'neg_big': -(2**60), 'safe': 2**53 - 1,",
      "  'nan': [math.nan, math.inf, -math.inf],",
      "  'when': datetime.datetime(2026, 12, 6, 21, 0, 5, tzinfo=datetime.timezone.utc),",
      "  'day': datetime.date(2026, 1, 2), 'bytes': b'\\x00\\xffhi', 'set': {3},",
      "  'keys': {1: 'a', None: 'b', 2.5: 'd', (1, 2): 'e'}, 'bool_key': {True: 'c'},",
      "  'object': object.__new__(type('Thing', (), {'__repr__': lambda self: '<thing>'})),",
      "}",
    ].join("\n");
    const r = await runPy(code);
    expect(r.status).toBe("ok");
    expect(r.result).toEqual({
      none: null,
      bools: [true, false],
      int: 7,
      float: 1.5,
      str: "é\u2028",
      tuple: [1, 2],
      big: "1180591620717411303424",
      neg_big: "-1152921504606846976",
      safe: 2 ** 53 - 1,
      nan: [null, null, null],
      when: "2026-12-06T21:00:05+00:00",
      day: "2026-01-02",
      bytes: "AP9oaQ==",
      set: "{3}",
      keys: { "1": "a", null: "b", "2.5": "d", "(1, 2)": "e" },
      bool_key: { true: "c" },
      object: "<thing>",
    });
  });

  it("writes cycles and nesting past 100 levels as markers, as JavaScript does", async () => {
    const cycle = await runPy("a = [1, {'k': None}]\na[1]['k'] = a\na.append(a)\na");
    expect(cycle).toMatchObject({ status: "ok", result: [1, { k: "[Circular]" }, "[Circular]"] });
    const deep = await runPy("d = []\nfor _ in range(150):\n    d = [d]\nd");
    let arrays = 0;
    let at = deep.result;
    while (Array.isArray(at)) {
      at = at[0];
      arrays++;
    }
    expect([arrays, at]).toEqual([100, "[Too deep]"]);
  });

  it("answers ResultTooLarge past 1 MiB and ResultNotSerializable when repr fails", async () => {
    expect(await runPy("'x' * (2 * 1024 * 1024)")).toMatchObject({
      status: "error",
      error: { name: "ResultTooLarge" },
    });
    const r = await runPy(
      "class Bad:\n    def __repr__(self):\n        raise ValueError('no')\nBad()",
    );
    expect(r).toMatchObject({ status: "error", error: { name: "ResultNotSerializable" } });
    expect(r.error?.message).toContain("ValueError: no");
  });

  it("gives the code its input as a dict", async () => {
    const r = await runPy("[type(input).__name__, input['n'] * 2, input['xs'][-1]]", {
      input: { n: 21, xs: [1, 2, 3] },
    });
    expect(r.result).toEqual(["dict", 42, 3]);
  });

  it("has the standard library, offline", async () => {
    const code = [
      "import json, re, datetime, math, collections, statistics, decimal, hashlib, zlib, sqlite3, uuid",
      "db = sqlite3.connect(':memory:')",
      "db.execute('create table t (x)')",
      "db.executemany('insert into t values (?)', [(1,), (2,)])",
      "[",
      "  json.dumps({'a': 1}), re.sub(r'\\d', '#', 'a1b2'), statistics.mean([1, 2, 3]),",
      "  str(decimal.Decimal('0.1') + decimal.Decimal('0.2')), hashlib.sha256(b'x').hexdigest()[:8],",
      "  len(zlib.compress(b'a' * 100)) < 100, db.execute('select sum(x) from t').fetchone()[0],",
      "  len(str(uuid.uuid4())), collections.Counter('aab').most_common(1)[0][0],",
      "]",
    ].join("\n");
    const r = await runPy(code);
    expect(r).toMatchObject({
      status: "ok",
      result: ['{"a": 1}', "a#b#", 2, "0.3", "2d711642", true, 3, 36, "a"],
    });
  });
});

describe("output", () => {
  it("makes print a log entry and stderr and logging warnings error entries, in order", async () => {
    // logging.warning() configures the root logger as Python does: level and name first.
    const code = [
      "import sys, logging",
      "print('one', 2)",
      "print('no newline', end='')",
      "print(' then newline')",
      "sys.stderr.write('to stderr\\n')",
      "logging.warning('careful %s', 'now')",
      "logging.info('not shown')",
      "print('a\\nb')",
      "sys.stdout.write('partial')",
    ].join("\n");
    const r = await runPy(code);
    expect(r.status).toBe("ok");
    expect(r.logs).toEqual([
      { level: "log", message: "one 2" },
      { level: "log", message: "no newline then newline" },
      { level: "error", message: "to stderr" },
      { level: "error", message: "WARNING:root:careful now" },
      { level: "log", message: "a\nb" },
      { level: "log", message: "partial" },
    ]);
  });

  it("keeps the same caps as JavaScript", async () => {
    const r = await runPy("for i in range(1500):\n    print(i)");
    expect(r.logs).toHaveLength(1001);
    expect(r.logs[999]).toEqual({ level: "log", message: "999" });
    expect(r.logs[1000]).toMatchObject({ level: "warn", truncated: true });
  });
});

describe("errors", () => {
  it("names the exception class, its message, its line in the code as sent and the traceback", async () => {
    const r = await runPy("def f(x):\n    return 10 / x\n\nf(1)\nf(0)");
    expect(r.status).toBe("error");
    expect(r.error).toMatchObject({
      name: "ZeroDivisionError",
      message: "division by zero",
      line: 2,
    });
    expect(r.error?.stack).toMatch(/^Traceback \(most recent call last\):\n/);
    expect(r.error?.stack).toContain('File "<code>", line 5, in <module>');
    expect(r.error?.stack).toContain('File "<code>", line 2, in f\n    return 10 / x');
    expect(r.error?.stack).toMatch(/ZeroDivisionError: division by zero\n$/);
    // The harness's own frames are not part of it.
    expect(r.error?.stack).not.toMatch(/_cordon|_pyodide|_base\.py/);
  });

  it("locates a syntax error and a raise of the code's own exception", async () => {
    const syntax = await runPy("x = 1\nif x\n    pass");
    expect(syntax).toMatchObject({ status: "error", error: { name: "SyntaxError", line: 2 } });
    expect(syntax.error?.message).toBe("expected ':'");
    const own = await runPy("class Oops(Exception):\n    pass\n\nraise Oops('custom')");
    expect(own).toMatchObject({
      status: "error",
      error: { name: "Oops", message: "custom", line: 4 },
    });
    const key = await runPy("{}['missing']");
    expect(key).toMatchObject({ error: { name: "KeyError", message: "'missing'", line: 1 } });
  });

  it("keeps what was printed before the exception", async () => {
    const r = await runPy("print('before')\nraise RuntimeError('boom')");
    expect(r.logs).toEqual([{ level: "log", message: "before" }]);
    expect(r.error).toMatchObject({ name: "RuntimeError", line: 2 });
  });
});

describe("deadlines", () => {
  it("ends `while True: pass` as a timeout at its deadline, through CPython's signal check", async () => {
    const started = Date.now();
    const r = await runPy("print('started')\nwhile True:\n    pass", { timeoutMs: 500 });
    expect(r).toMatchObject({ status: "timeout", reason: "computing" });
    expect(r.logs).toEqual([{ level: "log", message: "started" }]);
    expect(Date.now() - started).toBeLessThan(500 + 1000 + 3000);
  });

  it("does not let the code catch its way past the deadline", async () => {
    const code =
      "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass";
    const r = await runPy(code, { timeoutMs: 400 });
    expect(r).toMatchObject({ status: "timeout", reason: "computing" });
  });

  it("ends a run that waits past its deadline as a timeout", async () => {
    const r = await runPy("import asyncio\nawait asyncio.sleep(60)", { timeoutMs: 300 });
    expect(r).toMatchObject({ status: "timeout", reason: "waiting" });
  });
});

describe("each fresh execution starts clean", () => {
  it("reseeds random, so two fresh runs differ", async () => {
    const code = "import random\n[random.random(), random.randint(0, 10**9)]";
    const [a, b] = [await runPy(code), await runPy(code)];
    expect(a.status).toBe("ok");
    expect(a.result).not.toEqual(b.result);
  });

  it("sees nothing an earlier run left in builtins, modules or the file system", async () => {
    const dirty = [
      "import builtins, json, os",
      "builtins.leak = 'x'",
      "json.dumps = lambda *a, **k: 'forged'",
      "open('/tmp/left', 'w').write('x')",
      "os.environ['LEFT'] = '1'",
    ].join("\n");
    expect((await runPy(dirty)).status).toBe("ok");
    const check = [
      "import builtins, json, os",
      "[hasattr(builtins, 'leak'), json.dumps(1), os.path.exists('/tmp/left'), 'LEFT' in os.environ]",
    ].join("\n");
    expect(await runPy(check)).toMatchObject({ status: "ok", result: [false, "1", false, false] });
  });

  it("cannot import the harness", async () => {
    const r = await runPy("import _cordon");
    expect(r).toMatchObject({ status: "error", error: { name: "ModuleNotFoundError" } });
  });

  it("has the secrets' placeholders in os.environ", async () => {
    const placeholder = "cordon-secret-API_TOKEN-0123456789abcdef0123456789abcdef";
    const r = await runPy("import os\nos.environ['API_TOKEN']", {
      env: { API_TOKEN: placeholder },
    });
    expect(r).toMatchObject({ status: "ok", result: placeholder });
  });
});

describe("egress", () => {
  const seen: string[] = [];
  beforeEach(() => {
    seen.length = 0;
    // The gateway runs in this isolate: its fetch is the internet.
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      seen.push(`${request.method} ${request.url}`);
      return Response.json({ hello: "from upstream" });
    });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("sends pyfetch and js.fetch through the gateway, with its policy and audit", async () => {
    const code = [
      "from pyodide.http import pyfetch",
      "import js",
      "r = await pyfetch('https://api.example.com/data')",
      "body = await r.json()",
      "r2 = await js.fetch('https://api.example.com/other')",
      "denied = None",
      "try:",
      "    await pyfetch('https://evil.example.com/')",
      "except Exception as e:",
      "    denied = type(e).__name__",
      "[r.status, body['hello'], r2.status, denied]",
    ].join("\n");
    const r = await runPy(code, { allow: ["api.example.com"] });
    expect(r).toMatchObject({ status: "ok", result: [200, "from upstream", 200, "AbortError"] });
    expect(seen).toEqual(["GET https://api.example.com/data", "GET https://api.example.com/other"]);
    expect(r.egress).toEqual([
      expect.objectContaining({ url: "https://api.example.com/data", decision: "allowed" }),
      expect.objectContaining({ url: "https://api.example.com/other", decision: "allowed" }),
      expect.objectContaining({ url: "https://evil.example.com/", decision: "denied" }),
    ]);
  });

  it("has no other way out: urllib and sockets fail", async () => {
    const code = [
      "import urllib.request, socket",
      "def by_urllib():",
      "    urllib.request.urlopen('http://api.example.com/', timeout=1).read()",
      "def by_socket():",
      "    s = socket.create_connection(('api.example.com', 80), timeout=1)",
      "    s.sendall(b'GET / HTTP/1.0\\r\\nHost: api.example.com\\r\\n\\r\\n')",
      "    return s.recv(100)",
      "out = []",
      "for attempt in (by_urllib, by_socket):",
      "    try:",
      "        out.append(repr(attempt()))",
      "    except Exception as e:",
      "        out.append('failed')",
      "out",
    ].join("\n");
    const r = await runPy(code, { allow: ["api.example.com"] });
    expect(r).toMatchObject({ status: "ok", result: ["failed", "failed"] });
    expect(seen).toEqual([]);
  });
});

describe("sessions", () => {
  /** Runs `code` as the next turn of `session`, as the control plane would hand it on. */
  async function turn(
    state: {
      values: Record<string, string>;
      files: { path: string; data: string }[];
    },
    code: string,
  ) {
    const r = await runPy(code, { session: state });
    const files = new Map(state.files.map((f) => [f.path, f.data]));
    for (const f of r.files?.changed ?? []) files.set(f.path, f.data);
    for (const path of r.files?.deleted ?? []) files.delete(path);
    const next = {
      values: r.vars ?? state.values,
      files: [...files].map(([path, data]) => ({ path, data })),
    };
    return { r, next };
  }
  const empty = () => ({ values: {}, files: [] });

  it("carries values by pickle, functions and classes by source, and imports, to a fresh isolate", async () => {
    const first = [
      "import json as j",
      "from math import sqrt",
      "from collections import OrderedDict",
      "import datetime, decimal",
      "total = 40",
      "data = {'xs': [1, 2], 'when': datetime.date(2026, 1, 2), 'd': decimal.Decimal('1.5')}",
      "od = OrderedDict(a=1)",
      "@staticmethod",
      "def unused():",
      "    pass",
      "def add(a, b=2):",
      "    return a + b + total",
      "class Point:",
      "    def __init__(self, x):",
      "        self.x = x",
      "    def norm(self):",
      "        return sqrt(self.x * self.x)",
      "p = Point(-3)",
      "sq = lambda n: n * n",
      "gen = (i for i in range(3))",
    ].join("\n");
    const { r, next } = await turn(empty(), first);
    expect(r.status).toBe("ok");
    expect(r.warnings).toEqual([expect.stringMatching(/^gen \(generator cannot be pickled/)]);
    expect(Object.keys(next.values)).toEqual([
      "j",
      "sqrt",
      "OrderedDict",
      "datetime",
      "decimal",
      "total",
      "data",
      "od",
      "unused",
      "add",
      "Point",
      "p",
      "sq",
    ]);
    expect(next.values.add).toBe("sdef add(a, b=2):\n    return a + b + total");
    expect(next.values.j).toBe("iimport json as j");
    expect(next.values.sqrt).toBe("ifrom math import sqrt as sqrt");
    const { r: second } = await turn(
      next,
      "[add(1), p.norm(), sq(4), j.dumps(data['xs']), str(data['when']), str(data['d']), list(od), type(p).__name__, 'gen' in dir()]",
    );
    expect(second).toMatchObject({
      status: "ok",
      result: [43, 3, 16, "[1, 2]", "2026-01-02", "1.5", ["a"], "Point", false],
    });
  });

  it("runs a session's turns in its kept interpreter only while it is handed what it left", async () => {
    const id = crypto.randomUUID();
    const marks =
      "import builtins\n[getattr(builtins, 'mark', None), sorted(k for k in globals() if len(k) == 1)]";
    const first = await runPy("import builtins\nbuiltins.mark = 'kept'\na = 1\nb = 2", {
      sessionId: id,
      session: empty(),
    });
    expect(first.status).toBe("ok");
    const left = first.vars ?? {};
    // Handed back exactly what it answered with: the same interpreter and namespace.
    expect(
      await runPy(marks, { sessionId: id, session: { values: left, files: [] } }),
    ).toMatchObject({
      result: ["kept", ["a", "b"]],
    });
    // Handed other variables (a snapshot restored, a turn that ran elsewhere): a fresh namespace
    // with those, in the same interpreter.
    const { b: _dropped, ...onlyA } = left;
    expect(
      await runPy(marks, { sessionId: id, session: { values: onlyA, files: [] } }),
    ).toMatchObject({ result: ["kept", ["a"]] });
    // Another session's turn never reaches it.
    expect(
      await runPy(marks, { sessionId: crypto.randomUUID(), session: { values: left, files: [] } }),
    ).toMatchObject({ result: [null, ["a", "b"]] });
  });

  it("does not keep a session's interpreter after a turn that timed out", async () => {
    const id = crypto.randomUUID();
    const first = await runPy("import builtins\nbuiltins.mark = 'kept'\nx = 1", {
      sessionId: id,
      session: empty(),
    });
    const session = { values: first.vars ?? {}, files: [] };
    // The interpreter was kept: what the turn left in builtins is there.
    expect(await runPy("import builtins\nbuiltins.mark", { sessionId: id, session })).toMatchObject(
      { status: "ok", result: "kept" },
    );
    const stopped = await runPy("import builtins\nbuiltins.stopped = True\nwhile True:\n    pass", {
      sessionId: id,
      session,
      timeoutMs: 1_000,
    });
    expect(stopped.status).toBe("timeout");
    expect(
      await runPy("import builtins\n[hasattr(builtins, 'mark'), hasattr(builtins, 'stopped'), x]", {
        sessionId: id,
        session,
      }),
    ).toMatchObject({ status: "ok", result: [false, false, 1] });
  });

  it("keeps what an execution defined before it threw", async () => {
    const { r, next } = await turn(
      empty(),
      "a = 1\ndef f():\n    return a\nraise ValueError('late')",
    );
    expect(r.status).toBe("error");
    expect(Object.keys(next.values)).toEqual(["a", "f"]);
  });

  it("restores a forged pickle without calling anything it names", async () => {
    // What pickle.dumps makes of an object whose __reduce__ asks for os.system / exec.
    const evil = btoa(
      String.fromCharCode(
        ...new TextEncoder().encode("cbuiltins\nexec\n(Vopen('/tmp/pwned', 'w').write('x')\ntR."),
      ),
    );
    const { r } = await turn(
      { values: { x: `p${evil}`, ok: "pgASVBgAAAAAAAAAoSwFLAnSULg==" }, files: [] },
      "import os\n[os.path.exists('/tmp/pwned'), 'x' in dir(), ok]",
    );
    expect(r).toMatchObject({ status: "ok", result: [false, false, [1, 2]] });
    expect(r.warnings).toEqual([
      expect.stringMatching(/^x \(UnpicklingError: builtins\.exec is not restored/),
    ]);
  });

  it("runs no stored source that is not one definition of its name", async () => {
    const values = {
      f: "sdef f():\n    return 1\nopen('/tmp/pwned', 'w').write('x')",
      g: "sopen('/tmp/pwned', 'w').write('x')",
      h: "sdef other():\n    pass",
      i: "iimport os; open('/tmp/pwned', 'w').write('x')",
      k: "sdef k():\n    return 'k'",
    };
    const { r } = await turn(
      { values, files: [] },
      "import os\n[os.path.exists('/tmp/pwned'), k(), [n in dir() for n in 'fghi']]",
    );
    expect(r).toMatchObject({ status: "ok", result: [false, "k", [false, false, false, false]] });
    expect(r.warnings).toHaveLength(4);
  });

  it("shares /tmp/workspace: files in before the code, changes and deletions out", async () => {
    const start = {
      values: {},
      files: [
        { path: "notes/a.txt", data: btoa("alpha") },
        { path: "gone.txt", data: btoa("bye") },
      ],
    };
    const code = [
      "import os",
      "text = open('/tmp/workspace/notes/a.txt').read()",
      "open('/tmp/workspace/notes/b.txt', 'w').write(text.upper())",
      "os.remove('/tmp/workspace/gone.txt')",
      "sorted(os.listdir('/tmp/workspace/notes'))",
    ].join("\n");
    const { r, next } = await turn(start, code);
    expect(r).toMatchObject({ status: "ok", result: ["a.txt", "b.txt"] });
    expect(r.files).toEqual({
      changed: [{ path: "notes/b.txt", data: btoa("ALPHA") }],
      deleted: ["gone.txt"],
    });
    expect(next.files.map((f) => f.path).sort()).toEqual(["notes/a.txt", "notes/b.txt"]);
  });
});
