/** Why a package could not be used; each names what failed and why in its message. */
export type PackageProblem =
  | "unknown-package"
  | "bad-specifier"
  | "bad-range"
  | "no-matching-version"
  | "unsupported-dependency"
  | "policy"
  | "registry"
  | "integrity"
  | "too-large"
  | "bad-package"
  | "unresolved";

/**
 * A package problem, thrown inside the package machinery and handed back to the execution as
 * `status: "error"` with `error.name` `ImportError` (never a 5xx: the registry, the tarball and the
 * package's contents are all outside the server's control).
 */
export class PackageError extends Error {
  override readonly name = "ImportError";
  readonly problem: PackageProblem;

  constructor(problem: PackageProblem, message: string) {
    super(message);
    this.problem = problem;
  }
}
