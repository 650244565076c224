import type pg from 'pg';
import type { EventEntry } from '../events';

/**
 * Every statement of webhook delivery, in one place: the dispatcher works across tenants (a
 * worker delivers for all of them), so whatever wraps tenant-scoped SQL wraps these as a system
 * role. Three statements carry the whole loop, each for many deliveries at once:
 *
 * - {@link DeliveryStore.lease}: leases a batch of due lanes and returns each one's run of
 *   pending deliveries (head first) with their events and the endpoint's URL and sealed secrets;
 * - {@link DeliveryStore.next}: renews one lane's lease and returns its next run (a long lane
 *   fetches it while the current run is still being sent);
 * - {@link DeliveryStore.record}: the attempts of many lanes, their deliveries' new state and the
 *   lanes' next step (parked, due at a retry, due again, let go).
 */

/** Where a lane's deliveries go. */
export interface LaneEndpoint {
  id: string;
  url: string;
  tenantId: string;
  environment: 'sandbox' | 'live';
  secretSealed: string;
  previousSecretSealed: string | null;
  /** The previous secret still signs (within the rotation overlap). */
  previousValid: boolean;
}

/** A pending delivery with its event, as the lane sends it. */
export interface LaneHead {
  deliveryId: string;
  /** Attempts made before this one. */
  attempts: number;
  /** Its retry time has not come yet. */
  notYet: boolean;
  /** Epoch ms. */
  nextAttemptAt: number;
  /** Epoch ms of the end of its retry window; null before the first attempt. */
  windowEnds: number | null;
  event: Omit<EventEntry, 'cursor'>;
}

/** A lane this process holds: its lease, the lane version the heads were read at, and the heads. */
export interface LeasedLane {
  endpointId: string;
  resourceId: string;
  token: string;
  /** Version of the lane in the snapshot the heads were read from: parking is refused once it moved. */
  version: string;
  /** Epoch ms (this process's clock, taken before the statement) until which the lease holds at least. */
  leasedUntil: number;
  endpoint: LaneEndpoint;
  heads: LaneHead[];
}

/** What one attempt came to. */
export interface AttemptOutcome {
  deliveryId: string;
  /** delivered (2xx), retry (at `nextAt`), dead (retry window over). */
  kind: 'delivered' | 'retry' | 'dead';
  nextAt: number | null;
  status: number | null;
  error: string | null;
  durationMs: number;
  /** Epoch ms when the request was sent. */
  at: number;
}

/**
 * A lane's next step, applied only while the lease is still this holder's:
 * park (nothing pending as of `version`: idle until a new delivery, or due now if the version moved),
 * retry (due when its head may be tried again), requeue (due now, behind lanes waiting longer),
 * release (due as it was: an interrupted run resumes first).
 */
export type LaneStep = { kind: 'park'; version: string } | { kind: 'retry'; at: number } | { kind: 'requeue' } | { kind: 'release' };

export interface LaneRelease {
  endpointId: string;
  resourceId: string;
  token: string;
  step: LaneStep;
}

/**
 * Per lane given to {@link DeliveryStore.record}: moved on (and whether it is due again at once),
 * still ours but locked by a writer right now (try again), or no longer ours.
 */
export interface LaneRecorded {
  state: 'done' | 'locked' | 'lost';
  due: boolean;
}

interface LeaseParams {
  lanes: number;
  leaseSeconds: number;
  runLength: number;
  windowSeconds: number;
  /** Lanes of one endpoint this process may take now, for endpoints it already holds lanes of (0: none). */
  endpointRoom: Map<string, number>;
  /** Lanes it may take of any other endpoint. */
  perEndpoint: number;
}

/** One head as JSON, built in SQL so each lane is one row (`$w`: the retry window in seconds). */
const headJson = (w: string) => `json_build_object(
  'deliveryId', d.id, 'attempts', d.attempts, 'notYet', d.next_attempt_at > now(),
  'nextAttemptAt', floor(extract(epoch from d.next_attempt_at) * 1000)::bigint,
  'windowEnds', floor(extract(epoch from d.first_attempt_at + make_interval(secs => ${w})) * 1000)::bigint,
  'event', json_build_object('id', ev.id, 'type', ev.type, 'resourceType', ev.resource_type, 'resourceId', ev.resource_id,
    'resourceSequence', ev.resource_seq::text, 'createdAt', floor(extract(epoch from ev.created_at) * 1000)::bigint,
    'payload', ev.payload, 'txid', ev.txid::text, 'seq', ev.seq::text))`;

/** The run of a lane: its first `$limit` pending deliveries after `$after`, in the resource's order, as a JSON array. */
const runOf = (endpoint: string, resource: string, after: string, limit: string, w: string) => `coalesce((
  select json_agg(h.j order by h.rs) from (
    select d.resource_seq as rs, ${headJson(w)} as j
    from webhook_delivery d join event ev on ev.id = d.event_id
    where d.endpoint_id = ${endpoint} and d.resource_id = ${resource} and d.status = 'PENDING' and d.resource_seq > ${after}
    order by d.resource_seq limit ${limit}) h), '[]'::json)`;

interface HeadJson extends Omit<LaneHead, 'event'> {
  event: Omit<LaneHead['event'], 'createdAt'> & { createdAt: number };
}
const toHeads = (rows: HeadJson[]): LaneHead[] => rows.map((h) => ({ ...h, event: { ...h.event, createdAt: new Date(h.event.createdAt) } }));

export class DeliveryStore {
  constructor(private readonly sql: pg.Pool) {}

  /**
   * Leases up to `lanes` due lanes nobody holds, oldest due first and at most the room given per
   * endpoint (skipping lanes another statement has locked: a writer adding to them, or another
   * worker leasing them), and returns each with its first
   * `runLength` pending deliveries. The lane version is read from the statement's snapshot, the
   * same one the deliveries are read from, so a delivery committed after it moves the version and
   * refuses the park.
   */
  async lease(p: LeaseParams): Promise<LeasedLane[]> {
    const before = Date.now();
    const { rows } = await this.sql.query<Omit<LeasedLane, 'leasedUntil' | 'heads' | 'endpoint'> & Omit<LaneEndpoint, 'id'> & { heads: HeadJson[] }>(
      `with candidate as (
         select endpoint_id, resource_id, due_at from webhook_lane
         where due_at <= now() and (leased_until is null or leased_until < now())
           and not (endpoint_id = any (select r.id from unnest($5::uuid[], $6::int[]) as r(id, n) where r.n <= 0))
         order by due_at limit $1 * 4 for update skip locked
       ), due as (
         -- No more lanes of one endpoint than this process has room for (the rest stay free for others).
         select c.endpoint_id, c.resource_id from (
           select *, row_number() over (partition by endpoint_id order by due_at) as rn from candidate) c
         left join unnest($5::uuid[], $6::int[]) as r(id, n) on r.id = c.endpoint_id
         where c.rn <= coalesce(r.n, $7)
         order by c.due_at limit $1
       ), leased as (
         update webhook_lane l set leased_until = now() + make_interval(secs => $2), lease_token = gen_random_uuid()
         from due where l.endpoint_id = due.endpoint_id and l.resource_id = due.resource_id
         returning l.endpoint_id, l.resource_id, l.lease_token
       )
       select l.endpoint_id as "endpointId", l.resource_id as "resourceId", l.lease_token as token, s.version::text as version,
              e.url, e.tenant_id as "tenantId", t.environment, e.secret_sealed as "secretSealed", e.previous_secret_sealed as "previousSecretSealed",
              coalesce(e.previous_secret_expires_at > now(), false) as "previousValid",
              ${runOf('l.endpoint_id', 'l.resource_id', '0', '$3', '$4')} as heads
       from leased l
       join webhook_lane s on s.endpoint_id = l.endpoint_id and s.resource_id = l.resource_id
       join webhook_endpoint e on e.id = l.endpoint_id
       join tenant t on t.id = e.tenant_id`,
      [p.lanes, p.leaseSeconds, p.runLength, p.windowSeconds, [...p.endpointRoom.keys()], [...p.endpointRoom.values()], p.perEndpoint],
    );
    return rows.map((r) => ({
      endpointId: r.endpointId,
      resourceId: r.resourceId,
      token: r.token,
      version: r.version,
      leasedUntil: before + p.leaseSeconds * 1000,
      endpoint: {
        id: r.endpointId,
        url: r.url,
        tenantId: r.tenantId,
        environment: r.environment,
        secretSealed: r.secretSealed,
        previousSecretSealed: r.previousSecretSealed,
        previousValid: r.previousValid,
      },
      heads: toHeads(r.heads),
    }));
  }

  /**
   * Renews the lease of a lane this process holds and returns its run after `afterSeq` (the last
   * delivery of the run being sent), with the lane version of the same snapshot. `held` is false
   * when the lease is no longer ours (it ran out and another worker took the lane).
   */
  async next(
    lane: Pick<LeasedLane, 'endpointId' | 'resourceId' | 'token'>,
    afterSeq: string,
    p: Pick<LeaseParams, 'leaseSeconds' | 'runLength' | 'windowSeconds'>,
  ): Promise<{ held: boolean; version: string; leasedUntil: number; heads: LaneHead[] }> {
    const before = Date.now();
    const { rows } = await this.sql.query<{ held: boolean; version: string; heads: HeadJson[] }>(
      `with renewed as (
         update webhook_lane set leased_until = now() + make_interval(secs => $4)
         where endpoint_id = $1 and resource_id = $2 and lease_token = $3 returning 1
       )
       select exists (select 1 from renewed) as held,
              (select version::text from webhook_lane where endpoint_id = $1 and resource_id = $2) as version,
              ${runOf('$1::uuid', '$2::uuid', '$5::bigint', '$6', '$7')} as heads`,
      [lane.endpointId, lane.resourceId, lane.token, p.leaseSeconds, afterSeq, p.runLength, p.windowSeconds],
    );
    const r = rows[0]!;
    return { held: r.held, version: r.version, leasedUntil: before + p.leaseSeconds * 1000, heads: r.held ? toHeads(r.heads) : [] };
  }

  /**
   * Records attempts and moves lanes on, in one statement. An attempt is recorded only on a
   * delivery still PENDING (a holder whose lease ran out may report what the next one already
   * recorded); its number follows the delivery's count. A lane moves on only under the token it
   * was leased with, and never waits for a lane row locked by a writer (that could deadlock with
   * a transaction adding events to several lanes): such a lane comes back as `locked`.
   */
  async record(outcomes: AttemptOutcome[], lanes: LaneRelease[]): Promise<LaneRecorded[]> {
    const at = Date.now();
    const { rows } = await this.sql.query<{ i: number; state: LaneRecorded['state']; due: boolean }>(
      `with r as (
         select * from unnest($1::uuid[], $2::text[], $3::float8[], $4::int[], $5::text[], $6::int[], $7::float8[])
           as r(id, kind, next_ms, status, error, duration_ms, age_ms)
       ), upd as (
         update webhook_delivery d set
           status = case r.kind when 'delivered' then 'DELIVERED' when 'dead' then 'DEAD' else 'PENDING' end,
           attempts = d.attempts + 1,
           first_attempt_at = coalesce(d.first_attempt_at, now() - make_interval(secs => r.age_ms / 1000)),
           last_attempt_at = now() - make_interval(secs => r.age_ms / 1000),
           delivered_at = case when r.kind = 'delivered' then now() - make_interval(secs => (r.age_ms - r.duration_ms) / 1000) end,
           next_attempt_at = coalesce(to_timestamp(r.next_ms / 1000), d.next_attempt_at),
           last_response_status = r.status,
           last_error = r.error
         from r where d.id = r.id and d.status = 'PENDING'
         returning d.id, d.attempts, d.last_attempt_at
       ), a as (
         insert into webhook_attempt (delivery_id, n, at, duration_ms, response_status, error)
         select upd.id, upd.attempts, upd.last_attempt_at, r.duration_ms, r.status, r.error from upd join r on r.id = upd.id
         on conflict do nothing
       ), x as (
         select * from unnest($8::uuid[], $9::uuid[], $10::uuid[], $11::text[], $12::bigint[], $13::float8[]) with ordinality
           as x(endpoint_id, resource_id, token, kind, version, at_ms, i)
       ), mine as (
         select w.endpoint_id, w.resource_id from webhook_lane w join x on w.endpoint_id = x.endpoint_id and w.resource_id = x.resource_id and w.lease_token = x.token
         for update of w skip locked
       ), moved as (
         update webhook_lane w set
           due_at = case x.kind
             when 'park' then case when w.version = x.version then null else now() end
             when 'retry' then to_timestamp(x.at_ms / 1000)
             when 'requeue' then now()
             else w.due_at end,
           leased_until = null, lease_token = null
         from x join mine on mine.endpoint_id = x.endpoint_id and mine.resource_id = x.resource_id
         where w.endpoint_id = x.endpoint_id and w.resource_id = x.resource_id
         returning w.endpoint_id, w.resource_id, w.due_at <= now() as due
       )
       select x.i::int as i, coalesce((select m.due from moved m where m.endpoint_id = x.endpoint_id and m.resource_id = x.resource_id), false) as due,
              case when exists (select 1 from moved m where m.endpoint_id = x.endpoint_id and m.resource_id = x.resource_id) then 'done'
                   when exists (select 1 from webhook_lane w where w.endpoint_id = x.endpoint_id and w.resource_id = x.resource_id and w.lease_token = x.token) then 'locked'
                   else 'lost' end as state
       from x order by x.i`,
      [
        outcomes.map((o) => o.deliveryId),
        outcomes.map((o) => o.kind),
        outcomes.map((o) => o.nextAt),
        outcomes.map((o) => o.status),
        outcomes.map((o) => o.error?.slice(0, 300) ?? null),
        outcomes.map((o) => o.durationMs),
        outcomes.map((o) => Math.max(0, at - o.at)),
        lanes.map((l) => l.endpointId),
        lanes.map((l) => l.resourceId),
        lanes.map((l) => l.token),
        lanes.map((l) => l.step.kind),
        lanes.map((l) => (l.step.kind === 'park' ? l.step.version : null)),
        lanes.map((l) => (l.step.kind === 'retry' ? l.step.at : null)),
      ],
    );
    return rows.map((r) => ({ state: r.state, due: r.due }));
  }
}
