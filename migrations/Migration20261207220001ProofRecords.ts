import { Migration } from '@mikro-orm/migrations';

/**
 * Proof records (docs/proofs.md): one per consent authorisation, payment approval or rejection
 * and payment status change, appended to a per-tenant hash chain and never updated in place.
 *
 * The chain is kept by the database so every writer (a MikroORM flush or a raw client in the
 * same transaction as the change it proves) gets the same guarantees:
 * - the application inserts the record's canonical JSON (RFC 8785) in `body`;
 * - a BEFORE INSERT trigger locks the tenant's `proof_chain` row (serialising appends per
 *   tenant until commit), gives the record the next `seq`, the head's hash as `prev_sha256`,
 *   `body_sha256 = sha256(body)` and `record_sha256 = sha256('{"bodySha256":…,"prevSha256":…,"seq":…}')`
 *   (itself RFC 8785 canonical JSON), and moves the head;
 * - UPDATE and TRUNCATE are refused; DELETE only of records whose `retain_until` has passed.
 * The genesis link is 64 zeros. No foreign key to the tenant: proofs outlive what they prove.
 */
export class Migration20261207220001ProofRecords extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table proof_chain (
        tenant_id uuid primary key,
        head_seq bigint not null,
        head_sha256 char(64) not null
      );`);
    this.addSql(`
      create table proof_record (
        id uuid primary key,
        tenant_id uuid not null,
        seq bigint not null,
        subject_kind varchar(16) not null,
        subject_id varchar(64) not null,
        event varchar(48) not null,
        body text not null,
        body_sha256 char(64) not null,
        prev_sha256 char(64) not null,
        record_sha256 char(64) not null,
        created_at timestamptz(3) not null,
        retain_until timestamptz(3) not null,
        constraint proof_record_seq_uniq unique (tenant_id, seq)
      );`);
    this.addSql(`create index proof_record_subject_idx on proof_record (tenant_id, subject_id, seq);`);
    this.addSql(`create index proof_record_retain_idx on proof_record (retain_until);`);
    this.addSql(`
      create function proof_record_chain() returns trigger language plpgsql as $$
      declare
        head proof_chain%rowtype;
        doc jsonb := new.body::jsonb;
      begin
        if doc ->> 'id' is distinct from new.id::text or doc ->> 'tenantId' is distinct from new.tenant_id::text
           or doc -> 'subject' ->> 'id' is distinct from new.subject_id or doc -> 'subject' ->> 'kind' is distinct from new.subject_kind
           or doc ->> 'event' is distinct from new.event then
          raise exception 'proof record columns disagree with its body' using errcode = '23514';
        end if;
        insert into proof_chain (tenant_id, head_seq, head_sha256) values (new.tenant_id, 0, repeat('0', 64))
          on conflict (tenant_id) do nothing;
        select * into head from proof_chain where tenant_id = new.tenant_id for update;
        new.seq := head.head_seq + 1;
        new.prev_sha256 := head.head_sha256;
        new.body_sha256 := encode(sha256(convert_to(new.body, 'UTF8')), 'hex');
        new.record_sha256 := encode(sha256(convert_to(
          '{"bodySha256":"' || new.body_sha256 || '","prevSha256":"' || new.prev_sha256 || '","seq":' || new.seq || '}', 'UTF8')), 'hex');
        update proof_chain set head_seq = new.seq, head_sha256 = new.record_sha256 where tenant_id = new.tenant_id;
        return new;
      end $$;`);
    this.addSql(`create trigger proof_record_chain before insert on proof_record for each row execute function proof_record_chain();`);
    this.addSql(`
      create function proof_record_immutable() returns trigger language plpgsql as $$
      begin
        if tg_op = 'DELETE' and old.retain_until < now() then
          return old;
        end if;
        raise exception 'proof records are never changed (% refused)', tg_op using errcode = '42501';
      end $$;`);
    this.addSql(`create trigger proof_record_immutable before update or delete on proof_record for each row execute function proof_record_immutable();`);
    this.addSql(`create trigger proof_record_no_truncate before truncate on proof_record for each statement execute function proof_record_immutable();`);
    this.addSql(`
      create table proof_signing_key (
        kid varchar(64) primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        public_jwk jsonb not null,
        sealed_private text not null,
        created_at timestamptz(3) not null default now()
      );`);
    this.addSql(`create unique index proof_signing_key_tenant_uniq on proof_signing_key (tenant_id);`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists proof_signing_key;');
    this.addSql('drop table if exists proof_record;');
    this.addSql('drop function if exists proof_record_immutable();');
    this.addSql('drop function if exists proof_record_chain();');
    this.addSql('drop table if exists proof_chain;');
  }
}
