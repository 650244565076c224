import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { Field, ObjectType } from 'type-graphql';

import { DECIMAL_PATTERN } from '../kernel/money';

export { DECIMAL_PATTERN, atCurrencyScale, currencyDigits } from '../kernel/money';

function parseDecimalInput(value: unknown): string {
  if (typeof value !== 'string' || !DECIMAL_PATTERN.test(value)) {
    throw new GraphQLError('A Decimal is a string such as "-12.30": digits, an optional sign and at most 8 decimals.', {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return value;
}

/** A decimal number carried as a string ("-12.30"), so no amount ever passes through a float. */
export const DecimalScalar = new GraphQLScalarType<string, string>({
  name: 'Decimal',
  description: 'A decimal number carried as a string ("-12.30"), so no amount ever passes through a float.',
  serialize: (value) => value as string,
  parseValue: parseDecimalInput,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('A Decimal is written as a string, e.g. "-12.30".', { extensions: { code: 'BAD_USER_INPUT' } });
    return parseDecimalInput(ast.value);
  },
});

/** An amount of money: a signed decimal string and its ISO 4217 currency. */
@ObjectType('Money', { simpleResolvers: true, description: 'An amount of money: a signed decimal string and its ISO 4217 currency.' })
export class MoneyType {
  @Field(() => DecimalScalar)
  amount!: string;

  /** ISO 4217 code, e.g. EUR. */
  @Field(() => String, { description: 'ISO 4217 code, e.g. EUR.' })
  currency!: string;
}
