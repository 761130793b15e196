import { type Options, Parser, type Program } from "acorn";

// acorn's scope flags and binding kinds (acorn/src/scopeflags.js, 8.x).
const SCOPE_TOP = 1;
const SCOPE_FUNCTION = 2;
const SCOPE_SIMPLE_CATCH = 32;
const SCOPE_CLASS_STATIC_BLOCK = 256;
const SCOPE_VAR = SCOPE_TOP | SCOPE_FUNCTION | SCOPE_CLASS_STATIC_BLOCK;
const BIND_LEXICAL = 2;
const BIND_FUNCTION = 3;
const BIND_SIMPLE_CATCH = 4;

/** A scope whose names are in sets (acorn keeps arrays and searches them). */
class Scope {
  readonly flags: number;
  readonly lexical = new Set<string>();
  readonly functions = new Set<string>();
  /** `var` names declared here or in scopes inside it that have ended (they belong further out). */
  var = new Set<string>();
  /** A simple catch clause's parameter, which a `var` in the clause may declare again. */
  catchParam: string | undefined;

  constructor(flags: number) {
    this.flags = flags;
  }
}

/**
 * acorn with scope bookkeeping that costs constant time per declaration (amortised). acorn checks
 * each declaration against arrays of the names its scope (and, for `var`, every enclosing block
 * scope) already declared, which made a megabyte of declarations take seconds: the control plane
 * cannot spend that on one request. The same redeclarations are errors, with the same messages.
 *
 * A `var` is checked against the lexical names of the open scopes it passes through by keeping,
 * per name, the depths at which it is lexically declared; it is recorded in its own scope only
 * and handed outwards when that scope ends (smaller set into larger), so a `let` declared later
 * in an enclosing scope still meets it.
 */
const LinearParser = Parser.extend(
  (Base) =>
    class extends Base {
      declare scopeStack: Scope[];
      declare inModule: boolean;
      declare undefinedExports: Record<string, unknown>;
      declare treatFunctionsAsVar: boolean;
      declare raiseRecoverable: (pos: number, message: string) => void;
      /** Depths of the open scopes where a name is lexically declared, innermost last. */
      #lexicalAt = new Map<string, number[]>();
      /** Depths of the open scopes with a function declaration of a name, innermost last. */
      #functionAt = new Map<string, number[]>();
      /** Depths of the open scopes that `var` declarations belong to, innermost last. */
      #varScopes: number[] = [];

      enterScope(flags: number): void {
        // acorn's constructor enters the top scope before this class's fields exist; the top
        // scope is where `var`s go when no other scope takes them.
        if (#varScopes in this && flags & SCOPE_VAR) this.#varScopes.push(this.scopeStack.length);
        this.scopeStack.push(new Scope(flags));
      }

      exitScope(): void {
        const scope = this.scopeStack.pop();
        if (!scope) return;
        if (scope.flags & SCOPE_VAR) this.#varScopes.pop();
        for (const name of scope.lexical) this.#lexicalAt.get(name)?.pop();
        for (const name of scope.functions) this.#functionAt.get(name)?.pop();
        const parent = this.scopeStack.at(-1);
        if (!parent || scope.flags & SCOPE_VAR || scope.var.size === 0) return;
        let [into, from] = [parent.var, scope.var];
        if (into.size < from.size) [into, from] = [from, into];
        for (const name of from) into.add(name);
        parent.var = into;
      }

      treatFunctionsAsVarInScope(scope: Scope): boolean {
        return Boolean(scope.flags & SCOPE_FUNCTION || (!this.inModule && scope.flags & SCOPE_TOP));
      }

      declareName(name: string, bindingType: number, pos: number): void {
        const depth = this.scopeStack.length - 1;
        const scope = this.scopeStack[depth] as Scope;
        let redeclared = false;
        if (bindingType === BIND_LEXICAL) {
          redeclared = scope.lexical.has(name) || scope.functions.has(name) || scope.var.has(name);
          this.#declareLexical(scope, depth, name);
          if (this.inModule && scope.flags & SCOPE_TOP) delete this.undefinedExports[name];
        } else if (bindingType === BIND_SIMPLE_CATCH) {
          if (scope.lexical.size === 0) scope.catchParam = name;
          this.#declareLexical(scope, depth, name);
        } else if (bindingType === BIND_FUNCTION) {
          redeclared = this.treatFunctionsAsVar
            ? scope.lexical.has(name)
            : scope.lexical.has(name) || scope.var.has(name);
          if (!scope.functions.has(name)) {
            scope.functions.add(name);
            push(this.#functionAt, name, depth);
          }
        } else {
          const varDepth = this.#varScopes.at(-1) ?? 0;
          redeclared =
            this.#lexicalBetween(name, varDepth) || this.#functionBetween(name, varDepth);
          if (!redeclared) {
            scope.var.add(name);
            const target = this.scopeStack[varDepth] as Scope;
            if (this.inModule && target.flags & SCOPE_TOP) delete this.undefinedExports[name];
          }
        }
        if (redeclared)
          this.raiseRecoverable(pos, `Identifier '${name}' has already been declared`);
      }

      checkLocalExport(id: { name: string }): void {
        const top = this.scopeStack[0] as Scope;
        if (!top.lexical.has(id.name) && !top.var.has(id.name)) {
          this.undefinedExports[id.name] = id;
        }
      }

      #declareLexical(scope: Scope, depth: number, name: string): void {
        if (scope.lexical.has(name)) return;
        scope.lexical.add(name);
        push(this.#lexicalAt, name, depth);
      }

      /** A lexical declaration of `name` in an open scope at `from` or deeper (not a catch parameter). */
      #lexicalBetween(name: string, from: number): boolean {
        const depths = this.#lexicalAt.get(name) ?? [];
        for (let i = depths.length - 1; i >= 0 && (depths[i] as number) >= from; i--) {
          const scope = this.scopeStack[depths[i] as number] as Scope;
          if (!(scope.flags & SCOPE_SIMPLE_CATCH && scope.catchParam === name)) return true;
        }
        return false;
      }

      /** A function declaration of `name` in an open block scope at `from` or deeper. */
      #functionBetween(name: string, from: number): boolean {
        const depths = this.#functionAt.get(name) ?? [];
        for (let i = depths.length - 1; i >= 0 && (depths[i] as number) >= from; i--) {
          if (!this.treatFunctionsAsVarInScope(this.scopeStack[depths[i] as number] as Scope)) {
            return true;
          }
        }
        return false;
      }
    },
);

function push(map: Map<string, number[]>, name: string, depth: number): void {
  const depths = map.get(name);
  if (depths) depths.push(depth);
  else map.set(name, [depth]);
}

const MODULE: Options = { ecmaVersion: "latest", sourceType: "module" };

/** Parses an ES module (the options the compiler uses everywhere), in time linear in its size. */
export function parseModule(code: string, options: Partial<Options> = {}): Program {
  return LinearParser.parse(code, { ...MODULE, ...options });
}
