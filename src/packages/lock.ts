/** One package version of a resolved set. */
export interface LockedPackage {
  name: string;
  version: string;
  integrity: string;
  tarball: string;
  /** Its dependencies as it names them (an npm alias may differ from the package), to their keys. */
  dependencies: Record<string, string>;
}

/**
 * A resolved set: what a session keeps so that its imports keep their versions, and what the
 * cache is addressed by. Keys are `name@version`.
 */
export interface Lock {
  /** The packages the code imports, by name, to their keys. */
  roots: Record<string, string>;
  packages: Record<string, LockedPackage>;
}
