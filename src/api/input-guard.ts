import { visit, type DocumentNode } from 'graphql';
import { ApiError, ErrorCode } from './errors';

/**
 * Characters a string may not carry into the gateway: PostgreSQL's text cannot hold U+0000, and
 * an unpaired UTF-16 surrogate has no UTF-8 form (it would be stored silently as U+FFFD).
 */
// eslint-disable-next-line no-control-regex -- U+0000 is what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** True when a string literal of the document or any string (or key) in the variables cannot be stored. */
export function hasUnstorableString(document: DocumentNode, variables: unknown): boolean {
  let found = false;
  visit(document, {
    StringValue(node) {
      if (UNSTORABLE.test(node.value)) found = true;
    },
  });
  if (found) return true;
  // Iterative: a deeply nested JSON body must not overflow the stack.
  const stack: unknown[] = [variables];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return true;
    } else if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) {
        if (UNSTORABLE.test(k)) return true;
        stack.push(inner);
      }
    }
  }
  return false;
}

/** Refuses, with a coded error and before any resolver runs, input no column could store as sent. */
export function assertStorableInput(document: DocumentNode, variables: unknown): void {
  if (hasUnstorableString(document, variables)) {
    throw new ApiError(
      ErrorCode.BAD_USER_INPUT,
      'A string in the request contains U+0000 or an unpaired UTF-16 surrogate, which the gateway cannot store; remove it.',
    );
  }
}
