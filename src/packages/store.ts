import type { PackageCache } from "../../durable-objects/package-cache";

/** Where the package cache keeps blobs: tarballs by integrity, builds by resolved set. */
export interface BlobStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, bytes: Uint8Array): Promise<void>;
}

/** Keys are `kind/<hex digest>`: nothing a request chooses goes into a path or a name unchecked. */
const KEY = /^[a-z]+\/[0-9a-f]{16,128}$/;

function checked(key: string): string {
  if (!KEY.test(key)) throw new TypeError(`not a package cache key: ${key}`);
  return key;
}

/**
 * Self-hosted: files under `CORDON_DATA_DIR/packages`, through a workerd `disk` service bound to
 * the control plane (a PUT is written to a temporary file and moved into place, so a reader never
 * sees half a blob).
 */
export class DiskStore implements BlobStore {
  readonly #disk: Fetcher;

  constructor(disk: Fetcher) {
    this.#disk = disk;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const response = await this.#disk.fetch(this.#url(key));
    if (response.status === 404) return undefined;
    if (!response.ok) throw new Error(`package cache read answered ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const response = await this.#disk.fetch(this.#url(key), { method: "PUT", body: bytes });
    if (!response.ok) throw new Error(`package cache write answered ${response.status}`);
  }

  #url(key: string): string {
    const [kind, digest] = checked(key).split("/") as [string, string];
    return `http://packages/${kind}/${digest.slice(0, 2)}/${digest}`;
  }
}

/** Cloudflare with an R2 bucket bound: one object per blob. */
export class R2Store implements BlobStore {
  readonly #bucket: R2Bucket;

  constructor(bucket: R2Bucket) {
    this.#bucket = bucket;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const object = await this.#bucket.get(checked(key));
    return object ? new Uint8Array(await object.arrayBuffer()) : undefined;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await this.#bucket.put(checked(key), bytes);
  }
}

/** Instances the Durable Object store spreads blobs over, by the first hex digit of their digest. */
const SHARDS = 16;
/** What one RPC call carries of a blob (a PackageCache row's cap). */
const PART_BYTES = 1024 * 1024;

/** Cloudflare without R2: Durable Object storage, blobs in 1 MiB parts. */
export class DurableObjectStore implements BlobStore {
  readonly #namespace: DurableObjectNamespace<PackageCache>;

  constructor(namespace: DurableObjectNamespace<PackageCache>) {
    this.#namespace = namespace;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const stub = this.#stub(key);
    const parts = await stub.parts(key);
    if (parts === null) return undefined;
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < parts; i++) {
      const part = await stub.part(key, i);
      if (part === null) return undefined;
      chunks.push(part);
    }
    const out = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.byteLength, 0));
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const stub = this.#stub(key);
    const parts = Math.max(1, Math.ceil(bytes.byteLength / PART_BYTES));
    for (let i = 0; i < parts; i++) {
      await stub.write(key, i, bytes.slice(i * PART_BYTES, (i + 1) * PART_BYTES));
    }
    await stub.commit(key, parts, bytes.byteLength);
  }

  #stub(key: string): DurableObjectStub<PackageCache> {
    const digest = checked(key).split("/")[1] as string;
    return this.#namespace.getByName(
      `packages-${Number.parseInt(digest[0] as string, 16) % SHARDS}`,
    );
  }
}
