import { z } from "@hono/zod-openapi";
import { isPackageName } from "../packages/specifier";

/** Pins one request may carry (each is a root of the resolved set, imported or not). */
export const MAX_PINS = 64;
/** Entries of a tenant's `packages.allow`. */
export const MAX_ALLOWED = 256;

const PackageName = z
  .string()
  .max(214)
  .refine(isPackageName, "must be an npm package name such as zod or @scope/pkg");

/** The request's `packages`: name → semver range, version or dist-tag. */
export const PackagePins = z
  .record(PackageName, z.string().min(1).max(256))
  .refine((pins) => Object.keys(pins).length <= MAX_PINS, {
    message: `must pin at most ${MAX_PINS} packages`,
  })
  .openapi("PackagePins", {
    description:
      'Versions for the packages the code imports: `{ "<name>": "<semver range, version or dist-tag>" }`. A package the code imports without a pin is its `latest`; a range that is not valid is an `ImportError` in the result.',
    example: { zod: "^4.1.0", "date-fns": "4.1.0" },
  });

/** One package of a resolved set, as the result lists it. */
export const UsedPackage = z
  .object({
    name: z.string(),
    version: z.string(),
    integrity: z.string().openapi({ description: "The tarball's sha512 integrity, as verified." }),
  })
  .openapi("UsedPackage");

/** `packages.allow` of a tenant policy: a package name, or `@scope/*` for a whole scope. */
const AllowedPackage = z
  .string()
  .max(214)
  .refine(
    (pattern) =>
      /^@[^/]+\/\*$/.test(pattern)
        ? isPackageName(`${pattern.slice(0, -1)}x`)
        : isPackageName(pattern),
    "must be an npm package name or @scope/*",
  );

export const PackagesPolicy = z
  .object({
    allow: z.array(AllowedPackage).max(MAX_ALLOWED).openapi({
      description:
        "Packages the tenant's code may import, dependencies included: names and `@scope/*`. Without a `packages` policy, any package may be imported.",
    }),
  })
  .strict()
  .openapi("PackagesPolicy");

export type PackagePinsBody = z.infer<typeof PackagePins>;
export type UsedPackageBody = z.infer<typeof UsedPackage>;
export type PackagesPolicyBody = z.infer<typeof PackagesPolicy>;
