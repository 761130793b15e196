/** Caps on what the package machinery fetches, unpacks and hands to an isolate (docs/packages.md). */
export const PACKAGE_LIMITS = {
  /** One packument (the registry's abbreviated metadata of a package). */
  packumentBytes: 16 * 1024 * 1024,
  /** One tarball as fetched (gzip). */
  tarballBytes: 16 * 1024 * 1024,
  /** One tarball unpacked: the tar stream, every entry counted (a gzip bomb stops here). */
  unpackedBytes: 128 * 1024 * 1024,
  /** Entries in one tarball. */
  tarballEntries: 20_000,
  /** Packages in one resolved set, dependencies included. */
  treePackages: 250,
  /** Tarball bytes of one resolved set, all packages together (as fetched). */
  treeTarballBytes: 64 * 1024 * 1024,
  /** Module source handed to an isolate for one resolved set: the files its imports reach. */
  moduleBytes: 32 * 1024 * 1024,
  /** One registry request (packument or tarball), in milliseconds. */
  requestMs: 15_000,
} as const;
