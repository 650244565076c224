import { Migration } from '@mikro-orm/migrations';

/**
 * PAYMENTS_READ (docs/delegated-access.md): a payment made from a granted account (same end user,
 * debtor IBAN = the account's IBAN) is readable by the grantee, and its PAYMENT_* events are
 * copied into the grantee's log, the way Migration20261207210001AccessGrants copies account events.
 *
 * The copy names the payment by a grant-scoped id (`SharedPayment/<md5(sharedAccountId ":"
 * Payment-global-id) as a UUID>`, the same derivation as a SharedTransaction's, written in
 * TypeScript as `sharedPaymentId`), names the shared account and the grant, and drops the owner's
 * approver (`memberId`), which is the owner's business. A payment whose debtor account is chosen at
 * the bank (no debtor IBAN) belongs to no account and is never shared.
 *
 * Like the other log triggers, the function runs as the system role (a copy lands in another
 * tenant's log; see Migration20261207230001IsolateLaterTenantTables).
 */
export class Migration20261208010001SharedPayments extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create function access_grant_share_payment_event() returns trigger language plpgsql security definer set search_path = public as $$
      declare
        p record;
        g record;
        shared_payment uuid;
      begin
        if new.resource_type <> 'Payment'
          or new.type not in ('PAYMENT_STATUS_CHANGED', 'PAYMENT_APPROVAL_REQUESTED', 'PAYMENT_APPROVED', 'PAYMENT_APPROVAL_REJECTED') then
          return null;
        end if;
        select end_user_id, debtor_iban into p from payment where id = new.resource_id and tenant_id = new.tenant_id;
        if p.debtor_iban is null then return null; end if;
        for g in
          select ga.id as shared_id, gr.id as grant_id, gr.grantee_tenant_id
          from access_grant gr
          join access_grant_account ga on ga.grant_id = gr.id
          join account a on a.id = ga.account_id
          where gr.owner_tenant_id = new.tenant_id and gr.end_user_id = p.end_user_id
            and gr.status = 'ACTIVE' and gr.ends_at > now() and 'PAYMENTS_READ' = any (gr.scopes)
            and upper(replace(a.iban, ' ', '')) = p.debtor_iban
          -- A revocation waits for this transaction, so no copy commits after the grant ended.
          for share of gr
        loop
          shared_payment := md5(g.shared_id::text || ':' || passerelle_gid('Payment', new.resource_id::text))::uuid;
          insert into event (id, tenant_id, type, resource_type, resource_id, payload)
          values (gen_random_uuid(), g.grantee_tenant_id, new.type, 'SharedPayment', shared_payment,
            (new.payload - 'memberId') || jsonb_build_object(
              'paymentId', passerelle_gid('SharedPayment', shared_payment::text),
              'accountId', passerelle_gid('SharedAccount', g.shared_id::text),
              'accessGrantId', passerelle_gid('AccessGrant', g.grant_id::text)));
        end loop;
        return null;
      end $$;`);
    this.addSql(`create trigger event_access_grant_share_payment after insert on event for each row execute function access_grant_share_payment_event();`);
    this.addSql(`grant create on schema public to passerelle_system;`);
    this.addSql(`alter function access_grant_share_payment_event() owner to passerelle_system;`);
    this.addSql(`revoke create on schema public from passerelle_system;`);
  }

  override async down(): Promise<void> {
    this.addSql('drop trigger if exists event_access_grant_share_payment on event;');
    this.addSql('drop function if exists access_grant_share_payment_event();');
  }
}
