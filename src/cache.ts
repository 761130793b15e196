// Small per-isolate caches: the control plane keeps copies of what Durable Objects said, briefly.

/** A small least-recently-used map. */
export class Lru<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();

  constructor(max: number) {
    this.#max = max;
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
  }

  /** Every entry, oldest first. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value;
      if (oldest !== undefined) this.#map.delete(oldest);
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
