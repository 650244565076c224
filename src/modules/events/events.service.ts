import type pg from 'pg';
import type { Caller } from '../../kernel/caller';
import { DomainError, ErrorCode } from '../../kernel/errors';
import type { EventType } from './events';

/** An event as the log answers it. */
export interface EventEntry {
  id: string;
  type: EventType;
  resourceType: string;
  resourceId: string;
  resourceSequence: string;
  createdAt: Date;
  payload: Record<string, unknown>;
  /** Position in the log (transaction id, sequence) and the same as an opaque cursor. */
  txid: string;
  seq: string;
  cursor: string;
}

export const MAX_EVENTS_PAGE = 500;

/** The payload field holding the global id of each kind of resource. */
const RESOURCE_ID_FIELD: Record<string, string> = {
  Consent: 'consentId',
  Account: 'accountId',
  Payment: 'paymentId',
  ExpectedPayment: 'expectedPaymentId',
  ReconciliationMatch: 'matchId',
  AccessGrant: 'accessGrantId',
  SharedAccount: 'accountId',
  SharedPayment: 'paymentId',
};

/** The global id clients see as an event's `resourceId` (the `events` query and webhook bodies alike): the one its payload names. */
export function publicResourceId(e: Pick<EventEntry, 'resourceType' | 'resourceId' | 'payload'>): string {
  const resource = e.payload[RESOURCE_ID_FIELD[e.resourceType] ?? 'accountId'];
  return typeof resource === 'string' ? resource : e.resourceId;
}

/** The columns of an {@link EventEntry} (without its cursor), as every reader of the log selects them. */
export const EVENT_COLUMNS = `id, type, resource_type as "resourceType", resource_id as "resourceId", resource_seq::text as "resourceSequence",
  created_at as "createdAt", payload, txid::text as txid, seq::text as seq`;

/** Only events of transactions older than every transaction still running: none can commit behind them. */
export const SETTLED = 'txid < pg_snapshot_xmin(pg_current_snapshot())';
const bad = (message: string, argument: string) => new DomainError(ErrorCode.BAD_USER_INPUT, message, { argument });

/**
 * The replayable event log of a tenant. Order is (transaction id, sequence), and only events of
 * transactions older than every one still running are read: an event that commits late can
 * never fall behind a cursor already handed out.
 */
export class EventsService {
  constructor(private readonly sql: Pick<pg.Pool, 'query'>) {}

  /** Events after `after` (from the start when absent), at most `first`, optionally of some types; `limit + 1` rows. */
  async list(
    caller: Caller,
    after: string | null | undefined,
    types: EventType[] | null | undefined,
    first: number | null | undefined,
  ): Promise<{ events: EventEntry[]; hasMore: boolean }> {
    const limit = first ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENTS_PAGE) throw bad(`Argument "first" must be between 1 and ${MAX_EVENTS_PAGE}.`, 'first');
    const position = after ? decodeEventCursor(after) : { txid: '0', seq: '0' };
    const { rows } = await this.sql.query<Omit<EventEntry, 'cursor'>>(
      `select ${EVENT_COLUMNS}
       from event
       where tenant_id = $1 and (txid, seq) > ($2::xid8, $3::bigint) and ${SETTLED}
         and ($4::text[] is null or type = any($4::text[]))
       order by event.txid, event.seq limit $5`,
      [caller.tenantId, position.txid, position.seq, types?.length ? types : null, limit + 1],
    );
    const events = rows.slice(0, limit).map((e) => ({ ...e, cursor: encodeEventCursor(e.txid, e.seq) }));
    return { events, hasMore: rows.length > limit };
  }
}

export function encodeEventCursor(txid: string, seq: string): string {
  return Buffer.from(`e1|${txid}|${seq}`, 'utf8').toString('base64url');
}

function decodeEventCursor(cursor: string): { txid: string; seq: string } {
  if (cursor.length > 120 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad('Argument "after" is not an event cursor.', 'after');
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (parts.length !== 3 || parts[0] !== 'e1' || !/^\d{1,19}$/.test(parts[1]!) || !/^\d{1,19}$/.test(parts[2]!)) {
    throw bad('Argument "after" is not an event cursor.', 'after');
  }
  return { txid: parts[1]!, seq: parts[2]! };
}
