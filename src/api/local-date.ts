import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function parseDate(value: unknown): string {
  const m = typeof value === 'string' ? DATE.exec(value) : null;
  const ok = m && Number(m[2]) >= 1 && Number(m[2]) <= 12 && Number(m[3]) >= 1 && new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!)).getUTCDate() === +m[3]!;
  if (!ok) throw new GraphQLError('A LocalDate is a calendar date written YYYY-MM-DD.', { extensions: { code: 'BAD_USER_INPUT' } });
  return value as string;
}

/**
 * A calendar date without time or zone, `YYYY-MM-DD` (a booking date is a day, not an instant).
 * Output values come from Postgres `date` columns already in this form, so serialising is free;
 * input is checked strictly.
 */
export const LocalDateScalar = new GraphQLScalarType<string, string>({
  name: 'LocalDate',
  description: 'A calendar date without time or zone, YYYY-MM-DD (a booking date is a day, not an instant).',
  serialize: (value) => value as string,
  parseValue: parseDate,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('A LocalDate is written as a string, e.g. "2026-03-31".', { extensions: { code: 'BAD_USER_INPUT' } });
    return parseDate(ast.value);
  },
});
