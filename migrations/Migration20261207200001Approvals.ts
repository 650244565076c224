import { Migration } from '@mikro-orm/migrations';

/**
 * Approvals (issue 20, parts 1–3): the people of an end user (an SME) and their roles, the
 * credentials they sign with (X.509 certificates chained to CA certificates the tenant registers,
 * WebAuthn passkeys), versioned approval policies, and the approvals given on payments. A payment
 * under a policy keeps the policy version it was created under and an approval revision that any
 * amendment bumps: approvals count only for the revision they signed. One approval per member and
 * revision is enforced by a unique index; one-use links are claimed by one atomic update.
 */
export class Migration20261207200001Approvals extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      create table approval_member (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        end_user_id uuid not null references end_user (id) on delete cascade,
        name varchar(140) not null,
        email varchar(254) null,
        roles jsonb not null,
        created_at timestamptz(3) not null
      );`);
    this.addSql(`create index approval_member_end_user_idx on approval_member (tenant_id, end_user_id, created_at, id);`);
    this.addSql(`
      create table approval_ca_certificate (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        fingerprint char(64) not null,
        subject varchar(1024) not null,
        der text not null,
        not_after timestamptz not null,
        created_at timestamptz(3) not null,
        unique (tenant_id, fingerprint)
      );`);
    this.addSql(`
      create table approver_certificate (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        member_id uuid not null references approval_member (id) on delete cascade,
        fingerprint char(64) not null,
        subject varchar(1024) not null,
        issuer varchar(1024) not null,
        serial_number varchar(128) not null,
        der text not null,
        not_before timestamptz not null,
        not_after timestamptz not null,
        revoked_at timestamptz null,
        revocation_reason varchar(200) null,
        created_at timestamptz(3) not null,
        unique (tenant_id, fingerprint)
      );`);
    this.addSql(`
      create table approver_passkey (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        member_id uuid not null references approval_member (id) on delete cascade,
        credential_id varchar(1400) not null,
        public_key text not null,
        counter bigint not null default 0,
        transports jsonb not null,
        revoked_at timestamptz null,
        created_at timestamptz(3) not null,
        unique (credential_id)
      );`);
    this.addSql(`
      create table approval_policy (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        end_user_id uuid not null references end_user (id) on delete cascade,
        version int not null check (version > 0),
        rules jsonb not null,
        allow_self_approval boolean not null,
        created_at timestamptz(3) not null,
        unique (end_user_id, version)
      );`);
    this.addSql(`alter table payment add column approval_policy_id uuid null references approval_policy (id);`);
    this.addSql(`alter table payment add column approval_revision int not null default 0;`);
    this.addSql(`alter table payment add column approvals_required int not null default 0;`);
    this.addSql(`alter table payment add column requester_member_id uuid null references approval_member (id) on delete set null;`);
    this.addSql(`
      create table payment_approval (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        payment_id uuid not null references payment (id) on delete cascade,
        member_id uuid not null references approval_member (id) on delete cascade,
        revision int not null,
        decision varchar(8) not null check (decision in ('APPROVE', 'REJECT')),
        method varchar(16) not null check (method in ('CERTIFICATE', 'PASSKEY')),
        credential_ref varchar(1400) not null,
        document_sha256 char(64) not null,
        signature text not null,
        reason varchar(500) null,
        created_at timestamptz(3) not null,
        unique (payment_id, member_id, revision)
      );`);
    this.addSql(`create index payment_approval_payment_idx on payment_approval (payment_id, revision, created_at);`);
    this.addSql(`
      create table approval_link (
        id uuid primary key,
        tenant_id uuid not null references tenant (id) on delete cascade,
        member_id uuid not null references approval_member (id) on delete cascade,
        purpose varchar(24) not null check (purpose in ('PASSKEY_REGISTRATION', 'PAYMENT_APPROVAL')),
        payment_id uuid null references payment (id) on delete cascade,
        token_hash char(64) not null unique,
        challenge varchar(200) null,
        decision varchar(8) null,
        expires_at timestamptz not null,
        claimed_at timestamptz null,
        created_at timestamptz(3) not null
      );`);
  }
}
