// The playground served at `GET /`: an editor, a Run that streams, and what the run did. It talks
// to the server that served it through the typed client, with the key kept in localStorage.
import { javascript } from "@codemirror/lang-javascript";
import { python } from "@codemirror/lang-python";
import { Compartment, type Extension, StateEffect, StateField } from "@codemirror/state";
import { Decoration, type DecorationSet, keymap } from "@codemirror/view";
import { basicSetup, EditorView } from "codemirror";
import {
  Cordon,
  CordonError,
  type EgressAttempt,
  type ExecuteRequest,
  type ExecutionResult,
  type LogEntry,
} from "../src/client/index";

const KEY_ITEM = "cordon.apiKey";
const SESSION_ITEM = "cordon.sessionId";
const DEFAULT_LANGUAGES = ["javascript", "typescript"];
const EXAMPLE = `// The completion value is the result, as in a REPL; console output streams as it happens.
console.log("adding", input);
const total = (input.a ?? 1) + (input.b ?? 2);
total
`;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const ui = {
  keyForm: element<HTMLFormElement>("key-form"),
  key: element<HTMLInputElement>("key"),
  keyState: element("key-state"),
  language: element<HTMLSelectElement>("language"),
  sessionMode: element<HTMLInputElement>("session-mode"),
  run: element<HTMLButtonElement>("run"),
  stop: element<HTMLButtonElement>("stop"),
  status: element("status"),
  editor: element("editor"),
  input: element<HTMLTextAreaElement>("input"),
  egress: element<HTMLTextAreaElement>("egress"),
  timeout: element<HTMLInputElement>("timeout"),
  sessionPanel: element("session-panel"),
  sessionId: element("session-id"),
  sessionNew: element<HTMLButtonElement>("session-new"),
  upload: element<HTMLInputElement>("upload"),
  files: element<HTMLTableElement>("files"),
  logs: element<HTMLOListElement>("logs"),
  result: element("result"),
  error: element("error"),
  egressTable: element<HTMLTableElement>("egress-table"),
  redactions: element<HTMLUListElement>("redactions"),
  usage: element("usage"),
};

// --- The editor, with the line of the last error marked -------------------------------------

const markErrorLine = StateEffect.define<number | null>();
const errorLine = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(marks, tr) {
    let next = marks.map(tr.changes);
    for (const effect of tr.effects) {
      if (!effect.is(markErrorLine)) continue;
      next = Decoration.none;
      const line = effect.value;
      if (line !== null && line >= 1 && line <= tr.state.doc.lines) {
        const from = tr.state.doc.line(line).from;
        next = Decoration.set([Decoration.line({ class: "cm-error-line" }).range(from)]);
      }
    }
    // Editing the code makes the old error stale.
    return tr.docChanged ? Decoration.none : next;
  },
  provide: (field) => EditorView.decorations.from(field),
});

const languageMode = new Compartment();

function modeFor(language: string): Extension {
  if (language === "python") return python();
  return javascript({ typescript: language === "typescript" });
}

const editor = new EditorView({
  parent: ui.editor,
  doc: EXAMPLE,
  extensions: [
    keymap.of([
      {
        key: "Mod-Enter",
        run: () => {
          void run(); // run() shows its own failures on the page
          return true;
        },
      },
    ]),
    basicSetup,
    languageMode.of(modeFor("javascript")),
    errorLine,
  ],
});

function setLanguage(language: string) {
  if (![...ui.language.options].some((o) => o.value === language)) addLanguage(language);
  ui.language.value = language;
  editor.dispatch({ effects: languageMode.reconfigure(modeFor(language)) });
}

function addLanguage(language: string) {
  const option = document.createElement("option");
  option.value = language;
  option.textContent = language;
  ui.language.append(option);
}

// --- The key, the client and the link that opens the page ----------------------------------

function storedKey(): string {
  return localStorage.getItem(KEY_ITEM) ?? "";
}

function saveKey(key: string) {
  if (key) localStorage.setItem(KEY_ITEM, key);
  else localStorage.removeItem(KEY_ITEM);
  ui.key.value = key;
  ui.keyState.textContent = key ? "saved in this browser" : "no key yet";
}

function client(): Cordon {
  return new Cordon({ url: location.origin, apiKey: storedKey() });
}

function fromBase64Url(text: string): string {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * `#key=…&code=…&lang=…&run=1`: stores the key and takes the fragment out of the address bar
 * before anything else happens (history, bookmarks and screen shares never see the key), then
 * answers whether to run.
 */
function openLink(): boolean {
  if (location.hash.length <= 1) return false;
  const params = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, "", location.pathname + location.search);
  const key = params.get("key");
  if (key) saveKey(key);
  const code = params.get("code");
  if (code) {
    try {
      editor.dispatch({
        changes: { from: 0, to: editor.state.doc.length, insert: fromBase64Url(code) },
      });
    } catch {
      showProblem("The link's code is not base64url-encoded UTF-8.");
    }
  }
  const lang = params.get("lang");
  if (lang) setLanguage(lang);
  return params.get("run") === "1";
}

/** The languages this server takes, as its OpenAPI document lists them. */
async function loadLanguages() {
  let languages = DEFAULT_LANGUAGES;
  try {
    const doc = (await client().openapi()) as {
      components?: {
        schemas?: { ExecutionRequest?: { properties?: { language?: { enum?: string[] } } } };
      };
    };
    languages = doc.components?.schemas?.ExecutionRequest?.properties?.language?.enum ?? languages;
  } catch {
    // The defaults will do; running tells the truth anyway.
  }
  const chosen = ui.language.value;
  for (const language of languages) {
    if (![...ui.language.options].some((o) => o.value === language)) addLanguage(language);
  }
  ui.language.value = chosen || "javascript";
}

// --- Running --------------------------------------------------------------------------------

let running: AbortController | undefined;

function setStatus(status: string, text: string) {
  ui.status.dataset.status = status;
  ui.status.textContent = text;
}

function clearOutput() {
  ui.logs.replaceChildren();
  ui.result.textContent = "";
  ui.error.textContent = "";
  ui.error.hidden = true;
  ui.egressTable.tBodies[0]?.replaceChildren();
  ui.redactions.replaceChildren();
  ui.usage.textContent = "";
  editor.dispatch({ effects: markErrorLine.of(null) });
}

function showProblem(text: string) {
  ui.error.hidden = false;
  ui.error.textContent = text;
}

function appendLog(entry: LogEntry) {
  const item = document.createElement("li");
  item.className = entry.level;
  item.textContent = entry.level === "log" ? entry.message : `[${entry.level}] ${entry.message}`;
  ui.logs.append(item);
}

function egressRow(attempt: EgressAttempt): HTMLTableRowElement {
  const row = document.createElement("tr");
  const cells = [
    attempt.method,
    attempt.url,
    attempt.decision,
    attempt.reason,
    attempt.status === undefined ? "" : String(attempt.status),
    attempt.ms === undefined ? "" : String(attempt.ms),
  ];
  for (const [index, text] of cells.entries()) {
    const cell = document.createElement("td");
    cell.textContent = text;
    if (index === 2) cell.className = attempt.decision;
    row.append(cell);
  }
  return row;
}

function request(): ExecuteRequest | string {
  const body: ExecuteRequest = {
    code: editor.state.doc.toString(),
    language: ui.language.value as ExecuteRequest["language"],
    timeoutMs: Number(ui.timeout.value) || 10_000,
  };
  const inputText = ui.input.value.trim();
  if (inputText) {
    try {
      body.input = JSON.parse(inputText);
    } catch (err) {
      return `Input is not JSON: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  const rules = ui.egress.value
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  if (rules.length > 0) {
    try {
      // A line that starts with { is a rule object; anything else a host pattern.
      body.egress = {
        allow: rules.map((rule) => (rule.startsWith("{") ? JSON.parse(rule) : rule)),
      };
    } catch {
      return "An egress rule that starts with { must be a JSON object.";
    }
  }
  return body;
}

function showResult(result: ExecutionResult) {
  setStatus(result.status, `${result.status} in ${result.usage.wallMs} ms`);
  ui.result.textContent = result.result === undefined ? "" : JSON.stringify(result.result, null, 2);
  // The result holds the final audit: status, bytes and ms that the streamed events lacked.
  ui.egressTable.tBodies[0]?.replaceChildren(...result.egress.map(egressRow));
  if (result.error) {
    const { name, message, line, column } = result.error;
    const where =
      line === undefined
        ? ""
        : ` (line ${line}${column === undefined ? "" : `, column ${column}`})`;
    showProblem(`${name}: ${message}${where}`);
    if (line !== undefined) {
      editor.dispatch({
        effects: [
          markErrorLine.of(line),
          EditorView.scrollIntoView(
            editor.state.doc.line(Math.min(line, editor.state.doc.lines)).from,
            {
              y: "center",
            },
          ),
        ],
      });
    }
  }
  for (const redaction of result.redactions) {
    const item = document.createElement("li");
    item.textContent = `${redaction.kind} in ${redaction.where}`;
    ui.redactions.append(item);
  }
  const { wallMs, subrequests } = result.usage;
  ui.usage.textContent = `wall time ${wallMs} ms, ${subrequests} outbound request${subrequests === 1 ? "" : "s"}`;
}

function problemText(err: unknown): string {
  if (err instanceof CordonError) {
    const hint = err.status === 401 ? " Save a valid API key above." : "";
    return `${err.status || ""} ${err.title}: ${err.detail}${hint}`.trim();
  }
  return err instanceof Error ? err.message : String(err);
}

async function run() {
  if (running) return;
  const body = request();
  clearOutput();
  if (typeof body === "string") {
    setStatus("problem", "not sent");
    showProblem(body);
    return;
  }
  running = new AbortController();
  ui.run.disabled = true;
  ui.stop.disabled = false;
  setStatus("running", "running…");
  try {
    const cordon = client();
    const sessionId = ui.sessionMode.checked ? await ensureSession() : undefined;
    const events = sessionId
      ? cordon.sessions.executeStream(sessionId, body, { signal: running.signal })
      : cordon.executeStream(body, { signal: running.signal });
    for await (const event of events) {
      if (event.type === "log") appendLog(event.data);
      else if (event.type === "egress") ui.egressTable.tBodies[0]?.append(egressRow(event.data));
      else if (event.type === "result") showResult(event.data);
    }
  } catch (err) {
    if (running.signal.aborted) {
      setStatus("stopped", "stopped");
    } else {
      setStatus("problem", "failed");
      showProblem(problemText(err));
    }
  } finally {
    running = undefined;
    ui.run.disabled = false;
    ui.stop.disabled = true;
    if (ui.sessionMode.checked) void refreshFiles(); // errors show in the files table itself
  }
}

// --- Session mode ---------------------------------------------------------------------------

async function ensureSession(): Promise<string> {
  const known = sessionStorage.getItem(SESSION_ITEM);
  if (known) return known;
  return newSession();
}

async function newSession(): Promise<string> {
  const created = await client().sessions.create({});
  sessionStorage.setItem(SESSION_ITEM, created.sessionId);
  ui.sessionId.textContent = created.sessionId;
  await refreshFiles();
  return created.sessionId;
}

async function refreshFiles() {
  const id = sessionStorage.getItem(SESSION_ITEM);
  const body = ui.files.tBodies[0];
  if (!body) return;
  if (!id) {
    body.replaceChildren();
    return;
  }
  ui.sessionId.textContent = id;
  try {
    const { files } = await client().files.list(id);
    body.replaceChildren(
      ...files.map((file) => {
        const row = document.createElement("tr");
        const name = document.createElement("td");
        const link = document.createElement("a");
        link.href = "#";
        link.textContent = file.path;
        link.addEventListener("click", (event) => {
          event.preventDefault();
          void download(id, file.path);
        });
        name.append(link);
        const size = document.createElement("td");
        size.textContent = String(file.size);
        const updated = document.createElement("td");
        updated.textContent = new Date(file.updatedAt).toLocaleString();
        row.append(name, size, updated);
        return row;
      }),
    );
  } catch (err) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = 3;
    cell.textContent = problemText(err);
    row.append(cell);
    body.replaceChildren(row);
    // A session that expired or was deleted is forgotten; the next run makes a new one.
    if (err instanceof CordonError && err.status === 404) sessionStorage.removeItem(SESSION_ITEM);
  }
}

async function download(id: string, path: string) {
  try {
    const bytes = await client().files.get(id, path);
    const url = URL.createObjectURL(new Blob([new Uint8Array(bytes)]));
    const link = document.createElement("a");
    link.href = url;
    link.download = path.split("/").pop() ?? path;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    showProblem(problemText(err));
  }
}

async function upload(files: FileList) {
  try {
    const id = await ensureSession();
    for (const file of files) await client().files.put(id, file.name, file);
  } catch (err) {
    showProblem(problemText(err));
  }
  ui.upload.value = "";
  await refreshFiles();
}

function showSessionMode() {
  ui.sessionPanel.hidden = !ui.sessionMode.checked;
  if (ui.sessionMode.checked) void refreshFiles(); // errors show in the files table itself
}

// --- Wiring ---------------------------------------------------------------------------------

ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  saveKey(ui.key.value.trim());
});
ui.language.addEventListener("change", () => setLanguage(ui.language.value));
// run(), refreshFiles() and upload() show their own failures on the page.
ui.run.addEventListener("click", () => void run());
ui.stop.addEventListener("click", () => running?.abort());
ui.sessionMode.addEventListener("change", showSessionMode);
ui.sessionNew.addEventListener("click", () => {
  sessionStorage.removeItem(SESSION_ITEM);
  void newSession().catch((err: unknown) => showProblem(problemText(err)));
});
ui.upload.addEventListener("change", () => {
  if (ui.upload.files && ui.upload.files.length > 0) void upload(ui.upload.files);
});

for (const language of DEFAULT_LANGUAGES) addLanguage(language);
const runNow = openLink();
saveKey(storedKey());
showSessionMode();
void loadLanguages();
if (runNow) void run();
