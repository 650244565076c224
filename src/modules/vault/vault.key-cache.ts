/**
 * Unwrapped data keys kept in memory, bounded in count (least recently used dropped first) and in
 * time (each entry lives `ttlMs` after it was read from the database, however often it is used).
 * Every key leaving the cache — evicted, expired, invalidated, replaced, cleared — is zeroed.
 * Entries are found by data key id (open) or by tenant and owner (seal); both lookups return the
 * row's own tenant and owner, which the caller compares with the context it was given.
 */
export interface CachedDataKey {
  readonly id: string;
  readonly tenantId: string;
  readonly ownerId: string;
  /** Master key version that wrapped it when it was read; a rotation changes it. */
  readonly masterVersion: number;
  /** The unwrapped key, owned by the cache: never zero it outside, never keep it across an await. */
  readonly key: Buffer;
  readonly expiresAt: number;
}

export class DataKeyCache {
  /** Insertion order is recency order: the first entry is the least recently used. */
  readonly #byId = new Map<string, CachedDataKey>();
  readonly #byOwner = new Map<string, string>();

  constructor(
    readonly max: number,
    readonly ttlMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get enabled(): boolean {
    return this.max > 0;
  }

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): CachedDataKey | undefined {
    const entry = this.#byId.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.delete(id);
      return undefined;
    }
    this.#byId.delete(id);
    this.#byId.set(id, entry);
    return entry;
  }

  getByOwner(tenantId: string, ownerId: string): CachedDataKey | undefined {
    const id = this.#byOwner.get(ownerKey(tenantId, ownerId));
    return id === undefined ? undefined : this.get(id);
  }

  /** Keeps a copy of `key` (the caller zeroes its own). */
  set(entry: Omit<CachedDataKey, 'expiresAt' | 'key'>, key: Buffer): void {
    if (!this.enabled) return;
    this.delete(entry.id);
    const copy = Buffer.alloc(key.length);
    key.copy(copy);
    this.#byId.set(entry.id, { ...entry, key: copy, expiresAt: this.now() + this.ttlMs });
    this.#byOwner.set(ownerKey(entry.tenantId, entry.ownerId), entry.id);
    while (this.#byId.size > this.max) this.delete(this.#byId.keys().next().value!);
  }

  delete(id: string): void {
    const entry = this.#byId.get(id);
    if (!entry) return;
    this.#byId.delete(id);
    const k = ownerKey(entry.tenantId, entry.ownerId);
    if (this.#byOwner.get(k) === id) this.#byOwner.delete(k);
    entry.key.fill(0);
  }

  deleteOwner(tenantId: string, ownerId: string): void {
    const id = this.#byOwner.get(ownerKey(tenantId, ownerId));
    if (id !== undefined) this.delete(id);
  }

  entries(): CachedDataKey[] {
    return [...this.#byId.values()];
  }

  clear(): void {
    for (const id of [...this.#byId.keys()]) this.delete(id);
  }
}

function ownerKey(tenantId: string, ownerId: string): string {
  // Neither part can contain a NUL (tenant ids are UUIDs, owner ids [A-Za-z0-9._:-]).
  return `${tenantId}\u0000${ownerId}`;
}
