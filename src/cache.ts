// Small per-isolate caches: the control plane keeps copies of what Durable Objects said, briefly.

/** Bounds a cache by the memory its entries keep alive, as `bytes` estimates it. */
export interface ByteBound<K, V> {
  maxBytes: number;
  /** Entries over this are not kept at all. */
  maxEntryBytes: number;
  bytes(key: K, value: V): number;
}

/** A small least-recently-used map, bounded by its number of entries and optionally by bytes. */
export class Lru<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();
  readonly #bound: ByteBound<K, V> | undefined;
  readonly #sizes = new Map<K, number>();
  #bytes = 0;

  constructor(max: number, bound?: ByteBound<K, V>) {
    this.#max = max;
    this.#bound = bound;
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  delete(key: K): void {
    this.#map.delete(key);
    this.#bytes -= this.#sizes.get(key) ?? 0;
    this.#sizes.delete(key);
  }

  /** Every entry, oldest first. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }

  /** The estimated bytes of the entries held (0 without a byte bound). */
  get bytes(): number {
    return this.#bytes;
  }

  set(key: K, value: V): void {
    this.delete(key);
    if (this.#bound) {
      const size = this.#bound.bytes(key, value);
      if (size > this.#bound.maxEntryBytes) return;
      this.#sizes.set(key, size);
      this.#bytes += size;
    }
    this.#map.set(key, value);
    while (
      this.#map.size > this.#max ||
      (this.#bound !== undefined && this.#bytes > this.#bound.maxBytes)
    ) {
      const oldest = this.#map.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
  }
}

/** A bounded cache whose entries are trusted for `ttlMs`, then fetched again. */
export class ExpiringCache<K, V> {
  readonly #entries: Lru<K, { value: V; expires: number }>;
  readonly #ttlMs: number;

  constructor(max: number, ttlMs: number) {
    this.#entries = new Lru(max);
    this.#ttlMs = ttlMs;
  }

  /** The cached value, or what `load` answers (then cached) when there is none or it expired. */
  async get(key: K, load: () => Promise<V>): Promise<V> {
    const cached = this.#entries.get(key);
    if (cached && cached.expires > Date.now()) return cached.value;
    const value = await load();
    this.#entries.set(key, { value, expires: Date.now() + this.#ttlMs });
    return value;
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  /** Drops every entry whose value matches. */
  deleteWhere(matches: (value: V) => boolean): void {
    for (const [key, { value }] of [...this.#entries.entries()]) {
      if (matches(value)) this.#entries.delete(key);
    }
  }
}
