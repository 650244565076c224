import type { Adapter, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  expiresAt?: number;
}

/**
 * In-memory storage for one bank's OAuth server (sandbox state is in memory by design). Entries
 * expire in real time like oidc-provider's own store; bank-clock expiry is checked by the bank.
 */
export class MemoryStore {
  private readonly entries = new Map<string, Entry>();

  clear(): void {
    this.entries.clear();
  }

  adapterFor(model: string): Adapter {
    const key = (id: string) => `${model}:${id}`;
    const get = (k: string): AdapterPayload | undefined => {
      const e = this.entries.get(k);
      if (!e) return undefined;
      if (e.expiresAt !== undefined && e.expiresAt < Date.now()) {
        this.entries.delete(k);
        return undefined;
      }
      return e.payload;
    };
    const find = (pred: (p: AdapterPayload) => boolean) => {
      for (const [k, e] of this.entries) if (k.startsWith(`${model}:`) && pred(e.payload)) return get(k);
      return undefined;
    };
    return {
      upsert: async (id, payload, expiresIn) => {
        this.entries.set(key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : undefined });
      },
      find: async (id) => get(key(id)),
      findByUid: async (uid) => find((p) => p.uid === uid),
      findByUserCode: async (userCode) => find((p) => p.userCode === userCode),
      consume: async (id) => {
        const p = get(key(id));
        if (p) p.consumed = Math.floor(Date.now() / 1000);
      },
      destroy: async (id) => {
        this.entries.delete(key(id));
      },
      revokeByGrantId: async (grantId) => {
        for (const [k, e] of this.entries) if (e.payload.grantId === grantId) this.entries.delete(k);
      },
    };
  }
}
