import { Migration } from '@mikro-orm/migrations';

/**
 * Delegated access (docs/delegated-access.md): tenants get a public handle, and an owner tenant
 * may grant another tenant read access to some accounts of one end user. Events of granted
 * accounts are copied into the grantee's log by a trigger in the same transaction as the
 * original, so subscriptions and webhooks of the grantee work unchanged; the copy names the
 * account and its transactions by grant-scoped ids only.
 */
export class Migration20261207210001AccessGrants extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table tenant add column handle varchar(40) null;`);
    this.addSql(`create unique index tenant_handle_idx on tenant (handle) where handle is not null;`);
    this.addSql(`
      create table access_grant (
        id uuid primary key,
        owner_tenant_id uuid not null references tenant (id) on delete cascade,
        grantee_tenant_id uuid not null references tenant (id) on delete cascade,
        end_user_id uuid not null references end_user (id) on delete cascade,
        scopes text[] not null,
        status varchar(12) not null default 'PENDING',
        ends_at timestamptz not null,
        created_at timestamptz not null default now(),
        accepted_at timestamptz,
        closed_at timestamptz,
        closed_by varchar(8),
        grantee_resource_id uuid not null default gen_random_uuid(),
        check (owner_tenant_id <> grantee_tenant_id),
        check (status in ('PENDING', 'ACTIVE', 'DECLINED', 'REVOKED'))
      );`);
    this.addSql(`create index access_grant_owner_idx on access_grant (owner_tenant_id, created_at, id);`);
    this.addSql(`create index access_grant_grantee_idx on access_grant (grantee_tenant_id, created_at, id);`);
    // One row per granted account: its id is the grant-scoped id the grantee sees (SharedAccount).
    this.addSql(`
      create table access_grant_account (
        id uuid primary key default gen_random_uuid(),
        grant_id uuid not null references access_grant (id) on delete cascade,
        account_id uuid not null references account (id) on delete cascade,
        unique (grant_id, account_id)
      );`);
    this.addSql(`create index access_grant_account_account_idx on access_grant_account (account_id);`);
    // The API's global id (base64url of gid://passerelle/<Type>/<id>), as api/relay/global-id writes it.
    this.addSql(`
      create function passerelle_gid(kind text, id text) returns text language sql immutable as $$
        select rtrim(translate(encode(convert_to('gid://passerelle/' || kind || '/' || id, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')
      $$;`);
    // Which event types each scope forwards; anything else (consents, payments of the owner) stays with the owner.
    // security definer: the copy lands in another tenant's log, which the writer's own tenant scope may not reach.
    this.addSql(`
      create function access_grant_share_event() returns trigger language plpgsql security definer set search_path = public as $$
      declare
        needed text;
        g record;
        shared jsonb;
      begin
        if new.resource_type <> 'Account' then return null; end if;
        needed := case
          when new.type in ('TRANSACTIONS_ADDED', 'TRANSACTIONS_MODIFIED', 'TRANSACTIONS_REMOVED') then 'TRANSACTIONS_READ'
          when new.type = 'BALANCE_UPDATED' then 'BALANCES_READ'
          when new.type = 'SYNC_FAILED' then 'ACCOUNTS_READ'
        end;
        if needed is null then return null; end if;
        for g in
          select ga.id as shared_id, gr.id as grant_id, gr.grantee_tenant_id
          from access_grant_account ga join access_grant gr on gr.id = ga.grant_id
          where ga.account_id = new.resource_id and gr.owner_tenant_id = new.tenant_id
            and gr.status = 'ACTIVE' and gr.ends_at > now() and needed = any (gr.scopes)
          -- A revocation waits for this transaction, so no copy commits after the grant ended.
          for share of gr
        loop
          shared := new.payload || jsonb_build_object(
            'accountId', passerelle_gid('SharedAccount', g.shared_id::text),
            'accessGrantId', passerelle_gid('AccessGrant', g.grant_id::text));
          if new.payload ? 'transactionIds' then
            shared := shared || jsonb_build_object('transactionIds', (
              select coalesce(jsonb_agg(passerelle_gid('SharedTransaction', md5(g.shared_id::text || ':' || t.gid)::uuid::text) order by t.n), '[]'::jsonb)
              from jsonb_array_elements_text(new.payload -> 'transactionIds') with ordinality as t(gid, n)));
          end if;
          insert into event (id, tenant_id, type, resource_type, resource_id, payload)
          values (gen_random_uuid(), g.grantee_tenant_id, new.type, 'SharedAccount', g.shared_id, shared);
        end loop;
        return null;
      end $$;`);
    this.addSql(`create trigger event_access_grant_share after insert on event for each row execute function access_grant_share_event();`);
  }

  override async down(): Promise<void> {
    this.addSql('drop trigger if exists event_access_grant_share on event;');
    this.addSql('drop function if exists access_grant_share_event();');
    this.addSql('drop function if exists passerelle_gid(text, text);');
    this.addSql('drop table if exists access_grant_account;');
    this.addSql('drop table if exists access_grant;');
    this.addSql('drop index if exists tenant_handle_idx;');
    this.addSql('alter table tenant drop column if exists handle;');
  }
}
