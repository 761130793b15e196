# Cordon's Python harness: runs one execution's code in the isolate's interpreter and answers with
# JSON text (docs/python.md). It is imported before the memory snapshot is taken, so every isolate
# restored from the snapshot has it, and the modules it names, already loaded. It keeps its own
# references to what it uses; code that replaces `json.dumps` or `print` changes only its own
# output, and the JavaScript harness checks the answer before it passes it on.

import ast
import base64
import builtins
import datetime
import importlib
import io
import json
import linecache
import math
import os
import pickle
import random
import sys
import traceback
import types
from json.encoder import encode_basestring, encode_basestring_ascii

from pyodide.code import CodeRunner

# Imported here so that code using them does not pay for it: they are in the snapshot.
import asyncio  # noqa: F401
import collections  # noqa: F401
import decimal  # noqa: F401
import functools  # noqa: F401
import itertools  # noqa: F401
import re  # noqa: F401
import statistics  # noqa: F401
import typing  # noqa: F401

FILENAME = "<code>"
"""The file name of the code as sent, in tracebacks and `linecache`."""

MAX_DEPTH = 100
MAX_SAFE_INTEGER = 2**53 - 1
WORKSPACE = "/tmp/workspace"

_isinstance = isinstance
_len = len
_repr = repr
_str = str
_type = type
_id = id
_dict_items = dict.items
_float_repr = float.__repr__
_int_str = int.__repr__
_isfinite = math.isfinite
_b64encode = base64.b64encode
_b64decode = base64.b64decode
_BaseException = BaseException
_Exception = Exception


class _TooLarge(_Exception):
    """The result's JSON text passed its cap."""


def _quote(text):
    """JSON text of a string; a lone surrogate is written as an escape, as JavaScript does."""
    if text.isascii():
        return encode_basestring_ascii(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return encode_basestring_ascii(text)
    return encode_basestring(text)


def _key(key):
    """A dict key as an object key: strings as they are, numbers and constants as JSON writes them."""
    if _isinstance(key, _str):
        return _str(key)
    if key is None:
        return "null"
    if key is True:
        return "true"
    if key is False:
        return "false"
    if _isinstance(key, int):
        return _int_str(int(key))
    if _isinstance(key, float):
        return _float_repr(key) if _isfinite(key) else _repr(float(key))
    return _repr(key)


def result_json(value, cap):
    """JSON text of a result by the rule in docs/python.md; raises _TooLarge past `cap` characters."""
    parts = []
    size = 0
    on_path = set()

    def put(text):
        nonlocal size
        size += _len(text)
        if size > cap:
            raise _TooLarge
        parts.append(text)

    def write(v, depth):
        if v is None:
            put("null")
        elif v is True:
            put("true")
        elif v is False:
            put("false")
        elif _isinstance(v, int):
            n = int(v)
            text = _int_str(n)
            put(text if -MAX_SAFE_INTEGER <= n <= MAX_SAFE_INTEGER else '"' + text + '"')
        elif _isinstance(v, float):
            put(_float_repr(float(v)) if _isfinite(v) else "null")
        elif _isinstance(v, _str):
            put(_quote(_str(v)))
        elif _isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
            put(_quote(v.isoformat()))
        elif _isinstance(v, (bytes, bytearray, memoryview)):
            put('"' + _b64encode(bytes(v)).decode("ascii") + '"')
        elif _isinstance(v, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                put('"[Too deep]"')
                return
            if _id(v) in on_path:
                put('"[Circular]"')
                return
            on_path.add(_id(v))
            if _isinstance(v, dict):
                put("{")
                first = True
                for k, item in list(_dict_items(v)):
                    put(("" if first else ",") + _quote(_key(k)) + ":")
                    first = False
                    write(item, depth + 1)
                put("}")
            else:
                put("[")
                for i, item in enumerate(list(v)):
                    if i:
                        put(",")
                    write(item, depth + 1)
                put("]")
            on_path.discard(_id(v))
        else:
            put(_quote(_repr(v)))

    write(value, 0)
    return "".join(parts)


class _Logs:
    """
    The run's output, in order: each `print` (a write that ends a line) becomes one entry, at
    `log` for stdout and `error` for stderr; a write to the other stream ends the pending entry.
    `emit(level, message)` is the JavaScript harness's, which applies the caps.
    """

    def __init__(self, emit, max_chars):
        self._emit = emit
        self._max = max_chars
        self._level = None
        self._parts = []
        self._size = 0

    def write(self, level, text):
        if level != self._level:
            self.flush()
            self._level = level
        self._parts.append(text)
        self._size += _len(text)
        if text.endswith("\n") or self._size > self._max:
            self.flush()

    def flush(self):
        if not self._parts:
            return
        message = "".join(self._parts)
        self._parts = []
        self._size = 0
        if message.endswith("\n"):
            message = message[:-1]
        self._emit(self._level, message)


class _Output(io.TextIOBase):
    """`sys.stdout` or `sys.stderr` of a run."""

    def __init__(self, logs, level):
        super().__init__()
        self._logs = logs
        self._level = level

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "strict"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, text):
        if not _isinstance(text, _str):
            raise TypeError(f"write() argument must be str, not {_type(text).__name__}")
        if text:
            self._logs.write(self._level, _str(text))
        return _len(text)


def _column(line_text, offset):
    """1-based character column of a 0-based UTF-8 byte offset into a line."""
    if offset is None or offset < 0:
        return None
    return _len(line_text.encode("utf-8")[:offset].decode("utf-8", "replace")) + 1


def _error_json(exc, source_lines):
    """JSON text of what the code threw: class, message, where in the code as sent, traceback."""
    name = _type(exc).__name__
    try:
        message = exc.msg if _isinstance(exc, SyntaxError) and exc.msg else _str(exc)
    except _Exception:
        message = "[message could not be read]"
    line = column = None
    try:
        if _isinstance(exc, SyntaxError):
            if exc.filename == FILENAME and _isinstance(exc.lineno, int):
                line = exc.lineno
                column = exc.offset if _isinstance(exc.offset, int) and exc.offset > 0 else None
            stack = "".join(traceback.format_exception_only(exc))
        else:
            tb = exc.__traceback__
            # The harness's own frames come first; the traceback starts at the code's.
            while tb is not None and tb.tb_frame.f_code.co_filename != FILENAME:
                tb = tb.tb_next
            for frame in traceback.extract_tb(tb):
                if frame.filename == FILENAME and frame.lineno is not None:
                    line = frame.lineno
                    text = source_lines[line - 1] if 0 < line <= _len(source_lines) else ""
                    column = _column(text, frame.colno)
            stack = "".join(traceback.format_exception(_type(exc), exc, tb))
    except _Exception:
        stack = f"{name}: {message}\n"
    out = '{"name":' + _quote(name) + ',"message":' + _quote(message)
    if line is not None:
        out += ',"line":' + _int_str(line)
    if column is not None:
        out += ',"column":' + _int_str(column)
    return out + ',"stack":' + _quote(stack) + "}"


# Session state -------------------------------------------------------------------------------
#
# A session's variables are carried as `name -> text`, the first character saying how:
#   "s" + source   a `def`, `async def`, `class` or `name = lambda ...` statement, run again;
#   "i" + source   `import module as name` or `from module import attr as name`, run again;
#   "p" + base64   a pickle of the value, read back by an unpickler that only makes the types
#                  listed below and classes the session defined (it calls nothing else).

_SAFE_GLOBALS = {
    ("builtins", n)
    for n in ("set", "frozenset", "complex", "bytearray", "bytes", "range", "slice", "object")
} | {
    ("builtins", "int"),
    ("builtins", "float"),
    ("builtins", "str"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "tuple"),
    ("builtins", "bool"),
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
    ("fractions", "Fraction"),
    ("collections", "OrderedDict"),
    ("collections", "deque"),
    ("collections", "defaultdict"),
    ("collections", "Counter"),
    ("uuid", "UUID"),
    ("uuid", "SafeUUID"),
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, data, namespace, defined):
        super().__init__(io.BytesIO(data))
        self._namespace = namespace
        self._defined = defined

    def find_class(self, module, name):
        if module == "__main__" and name in self._defined:
            found = self._namespace.get(name)
            if _isinstance(found, type):
                return found
        elif (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not restored from a session")


def _statement(source):
    """The one statement `source` holds, or None."""
    try:
        tree = ast.parse(source, "<session>", "exec")
    except SyntaxError:
        return None
    return tree.body[0] if _len(tree.body) == 1 else None


def _defines(node, name):
    """True if `node` is a def, class or lambda assignment binding exactly `name`."""
    return _defined_name(node) == name


def _imports(node, name):
    """True if `node` is `import m as name` or `from m import a as name` (absolute)."""
    if _isinstance(node, ast.Import):
        return _len(node.names) == 1 and node.names[0].asname == name
    if _isinstance(node, ast.ImportFrom):
        return (
            node.level == 0
            and _len(node.names) == 1
            and node.names[0].name != "*"
            and node.names[0].asname == name
        )
    return False


def _restore(values, namespace, warnings):
    """Puts a session's carried variables into `namespace`; what fails is named in `warnings`."""
    defined = set()
    later = []
    for name, text in values.items():
        if not _isinstance(text, _str) or not name.isidentifier() or not text:
            warnings.append(f"{name} (not a carried variable)")
            continue
        how, body = text[0], text[1:]
        if how in "si":
            node = _statement(body)
            if node is None or not (_defines(node, name) if how == "s" else _imports(node, name)):
                warnings.append(f"{name} (its source is not one definition of it)")
                continue
            filename = f"<session {name}>"
            linecache.cache[filename] = (_len(body), None, body.splitlines(True), filename)
            try:
                exec(compile(body, filename, "exec"), namespace)
            except _Exception as exc:
                warnings.append(f"{name} ({_type(exc).__name__}: {exc})")
                continue
            if how == "s":
                defined.add(name)
                _carried[name] = (namespace.get(name), body)
        elif how == "p":
            later.append((name, body))
        else:
            warnings.append(f"{name} (not a carried variable)")
    for name, body in later:
        try:
            namespace[name] = _Unpickler(_b64decode(body), namespace, defined).load()
        except _Exception as exc:
            warnings.append(f"{name} ({_type(exc).__name__}: {exc})")


# Names and sources of the definitions the namespace holds, as (object, source) by name.
_carried = {}


def _defined_name(node):
    """The name a top-level def, class or `name = lambda ...` binds; None for other statements."""
    if _isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if (
        _isinstance(node, ast.Assign)
        and _len(node.targets) == 1
        and _isinstance(node.targets[0], ast.Name)
        and _isinstance(node.value, ast.Lambda)
    ):
        return node.targets[0].id
    return None


def _definitions(tree, source):
    """
    The top-level definitions a run leaves bound, as `name -> (node, source)`: the last statement
    binding each name, if it is a def, class or lambda assignment starting its own line.
    """
    lines = source.splitlines(True)
    found = {}
    for node in tree.body:
        for name in _bound(node):
            found.pop(name, None)
        name = _defined_name(node)
        if name is None or node.col_offset != 0:
            continue
        segment = ast.get_source_segment(source, node)
        if segment is None:
            continue
        decorators = getattr(node, "decorator_list", None)
        first = decorators[0].lineno if decorators else node.lineno
        found[name] = (node, "".join(lines[first - 1 : node.lineno - 1]) + segment)
    return found


def _bound(node):
    """Names a top-level statement binds, outside the bodies of the functions and classes in it."""
    names = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if _isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
            continue
        if _isinstance(n, ast.Lambda):
            continue
        if _isinstance(n, ast.Name) and _isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif _isinstance(n, (ast.Import, ast.ImportFrom)):
            for alias in n.names:
                names.add((alias.asname or alias.name).split(".")[0])
        stack.extend(ast.iter_child_nodes(n))
    return names


def _made_by(value, node):
    """True if `value` is what the definition `node` of the code as sent made."""
    if _isinstance(node, ast.ClassDef):
        return (
            _isinstance(value, type)
            and value.__module__ == "__main__"
            and value.__qualname__ == node.name
            and getattr(value, "__firstlineno__", node.lineno) == node.lineno
        )
    # A decorator's wrapper leads to the function through __wrapped__.
    for _ in range(100):
        if _isinstance(value, types.FunctionType) or not hasattr(value, "__wrapped__"):
            break
        value = value.__wrapped__
    if not _isinstance(value, types.FunctionType):
        return False
    code = value.__code__
    return code.co_filename == FILENAME and code.co_name == (
        "<lambda>" if _isinstance(node, ast.Assign) else node.name
    )


def _import_source(name, value):
    """`import`/`from ... import` that binds `value` to `name` again, or None."""
    if _isinstance(value, types.ModuleType):
        module = getattr(value, "__name__", None)
        return f"import {module} as {name}" if _isinstance(module, _str) else None
    module = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if (
        not _isinstance(module, _str)
        or module == "__main__"
        or not _isinstance(qualname, _str)
        or not qualname.isidentifier()
    ):
        return None
    found = sys.modules.get(module)
    if found is None or getattr(found, qualname, None) is not value:
        return None
    return f"from {module} import {qualname} as {name}"


def _capture(namespace, warnings):
    """
    JSON text of the carried variables, `{name: text}` in the order they were bound, and the same
    as a dict.
    """
    out = []
    live = {}
    for name, value in list(namespace.items()):
        if (name.startswith("__") and name.endswith("__")) or name == "input":
            continue
        carried = _carried.get(name)
        if carried is not None and carried[0] is value:
            text = "s" + carried[1]
        else:
            text = None
            imported = _import_source(name, value)
            if imported is not None:
                text = "i" + imported
            elif (
                _isinstance(value, (types.FunctionType, type))
                and getattr(value, "__module__", None) == "__main__"
            ):
                warnings.append(f"{name} (a function or class not defined at the top level)")
                continue
            else:
                try:
                    text = "p" + _b64encode(pickle.dumps(value, 5)).decode("ascii")
                except _Exception as exc:
                    warnings.append(f"{name} ({_type(value).__name__} cannot be pickled: {exc})")
                    continue
        out.append(_quote(name) + ":" + _quote(text))
        live[name] = text
    return "{" + ",".join(out) + "}", live


# Workspace -----------------------------------------------------------------------------------


def _hydrate(files):
    """Makes /tmp/workspace hold exactly `files` ([{path, data}]); answers the data by path."""
    _remove_tree(WORKSPACE)
    os.makedirs(WORKSPACE, exist_ok=True)
    before = {}
    for f in files or ():
        full = WORKSPACE + "/" + f["path"]
        os.makedirs(full.rsplit("/", 1)[0], exist_ok=True)
        with open(full, "wb") as out:
            out.write(_b64decode(f["data"]))
        before[f["path"]] = f["data"]
    return before


def _remove_tree(path):
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        for entry in os.listdir(path):
            _remove_tree(path + "/" + entry)
        os.rmdir(path)
    else:
        os.remove(path)


def _collect(before):
    """JSON text of what changed in the workspace since `before`: `{changed, deleted}`."""
    now = {}
    for root, _dirs, names in os.walk(WORKSPACE):
        for n in names:
            full = root + "/" + n
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as f:
                    now[full[_len(WORKSPACE) + 1 :]] = _b64encode(f.read()).decode("ascii")
    changed = [
        '{"path":' + _quote(p) + ',"data":"' + d + '"}' for p, d in now.items() if before.get(p) != d
    ]
    deleted = [_quote(p) for p in before if p not in now]
    return '{"changed":[' + ",".join(changed) + '],"deleted":[' + ",".join(deleted) + "]}"


# Runs ----------------------------------------------------------------------------------------


def set_environ(env_json):
    """Adds the isolate's environment (secret placeholders by name) to os.environ."""
    for name, value in json.loads(env_json).items():
        os.environ[name] = value


# A session's interpreter, kept between turns: the namespace its last turn left and the variables
# that turn answered with. The next turn runs in that namespace only if the session hands back
# exactly those variables: a turn that ran elsewhere (another process, a restored snapshot) or a
# variable the control plane dropped makes it restore into a fresh namespace.
_live_values = None
_live_namespace = None


def _namespace():
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    # Pickles name the classes the code defines as __main__.<name>.
    sys.modules["__main__"] = module
    return module.__dict__


async def run(code, input_json, result_cap, log_cap, emit, session_json):
    """
    Runs `code` once and answers the envelope's fields as JSON object text:
    `{"status": "ok", "result": ...}` or `{"status": "error", "error": {...}}`, and in a session
    `"vars"`, `"files"` and `"warnings"`.
    """
    global _live_values, _live_namespace
    logs = _Logs(emit, log_cap)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = _Output(logs, "log")
    sys.stderr = _Output(logs, "error")
    # A snapshot freezes the generator's state: every run draws its own seed.
    random.seed()
    session = json.loads(session_json) if session_json else None
    warnings = []
    values = (session.get("values") or {}) if session is not None else None
    if values is not None and _live_values is not None and values == _live_values:
        namespace = _live_namespace
    else:
        _carried.clear()
        namespace = _namespace()
        if values is not None:
            _restore(values, namespace, warnings)
    _live_values = None
    namespace["input"] = json.loads(input_json)
    before = _hydrate(session.get("files") if session is not None else None)
    source_lines = code.splitlines()
    linecache.cache[FILENAME] = (_len(code), None, code.splitlines(True), FILENAME)
    body = None
    tree = None
    try:
        runner = CodeRunner(
            code, filename=FILENAME, dedent=False, flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        tree = runner.ast
        value = await runner.compile().run_async(namespace)
        try:
            body = '"status":"ok","result":' + result_json(value, result_cap)
        except _TooLarge:
            body = (
                '"status":"error","error":{"name":"ResultTooLarge","message":"the result is larger than '
                + _int_str(result_cap)
                + ' bytes"}'
            )
        except _Exception as exc:
            body = (
                '"status":"error","error":{"name":"ResultNotSerializable","message":'
                + _quote(f"the result could not be converted to JSON: {_type(exc).__name__}: {exc}")
                + "}"
            )
    except _BaseException as exc:
        body = '"status":"error","error":' + _error_json(exc, source_lines)
    finally:
        logs.flush()
        sys.stdout, sys.stderr = stdout, stderr
    if session is not None:
        # As in a REPL, what the code defined stays, whether it finished or threw.
        if tree is not None:
            for name, (node, text) in _definitions(tree, code).items():
                if name in namespace and _made_by(namespace[name], node):
                    _carried[name] = (namespace[name], text)
        vars_text, live = _capture(namespace, warnings)
        body += ',"vars":' + vars_text
        body += ',"files":' + _collect(before)
        _live_namespace = namespace
        _live_values = live
    if warnings:
        body += ',"warnings":[' + ",".join(_quote(w) for w in warnings) + "]"
    return "{" + body + "}"
