import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { Node } from '../../api/relay/node';
import { toGlobalId } from '../../api/relay/global-id';
import type { Account } from './account.entity';

/** Kind of account, whatever the bank calls it. */
export enum AccountKindEnum {
  CHECKING = 'CHECKING',
  SAVINGS = 'SAVINGS',
  CARD = 'CARD',
  LOAN = 'LOAN',
  OTHER = 'OTHER',
}
registerEnumType(AccountKindEnum, { name: 'AccountKind', description: 'Kind of account, whatever the bank calls it.' });

/** A bank account a consent grants access to. */
@ObjectType('Account', { implements: Node, description: 'A bank account a consent grants access to.' })
export class AccountType extends Node {
  @Field(() => AccountKindEnum)
  kind!: AccountKindEnum;

  @Field(() => String, { nullable: true })
  iban!: string | null;

  /** Masked card number, for card accounts. */
  @Field(() => String, { nullable: true, description: 'Masked card number, for card accounts.' })
  maskedPan!: string | null;

  /** ISO 4217 currency code. */
  @Field(() => String, { description: 'ISO 4217 currency code.' })
  currency!: string;

  @Field(() => String, { nullable: true })
  name!: string | null;

  @Field(() => String, { nullable: true })
  ownerName!: string | null;

  @Field(() => String, { nullable: true })
  product!: string | null;

  static from(a: Account): AccountType {
    return Object.assign(new AccountType(), {
      id: toGlobalId('Account', a.id),
      kind: a.kind as AccountKindEnum,
      iban: a.iban,
      maskedPan: a.maskedPan,
      currency: a.currency,
      name: a.name,
      ownerName: a.ownerName,
      product: a.product,
    });
  }
}
