/** The keyset position a list cursor encodes: creation time then id, the order of every default list. */
export interface KeysetPosition {
  createdAt: Date;
  id: string;
}

/** Database filter (MikroORM query shape) for rows strictly after a keyset position. */
export function afterPosition(pos: KeysetPosition | undefined) {
  if (!pos) return {};
  return { $or: [{ createdAt: { $gt: pos.createdAt } }, { createdAt: pos.createdAt, id: { $gt: pos.id } }] };
}
