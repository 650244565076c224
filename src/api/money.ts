import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { Field, ObjectType } from 'type-graphql';

/** What a Decimal accepts: an optional minus, up to 18 digits, up to 8 decimals. */
export const DECIMAL_PATTERN = /^-?\d{1,18}(\.\d{1,8})?$/;

function parseDecimalInput(value: unknown): string {
  if (typeof value !== 'string' || !DECIMAL_PATTERN.test(value)) {
    throw new GraphQLError('A Decimal is a string such as "-12.30": digits, an optional sign and at most 8 decimals.', { extensions: { code: 'BAD_USER_INPUT' } });
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

const digitsCache = new Map<string, number>();

/** Digits after the decimal point for an ISO 4217 currency (EUR 2, JPY 0, BHD 3). */
export function currencyDigits(currency: string): number {
  let d = digitsCache.get(currency);
  if (d === undefined) {
    try {
      d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    } catch {
      d = 2;
    }
    digitsCache.set(currency, d);
  }
  return d;
}

/** Pads a decimal string to at least its currency's digits ("-12.3" EUR → "-12.30"); never rounds. */
export function atCurrencyScale(amount: string, currency: string): string {
  const digits = currencyDigits(currency);
  const dot = amount.indexOf('.');
  const have = dot < 0 ? 0 : amount.length - dot - 1;
  if (have >= digits) return amount;
  return `${dot < 0 ? `${amount}${digits > 0 ? '.' : ''}` : amount}${'0'.repeat(digits - have)}`;
}
