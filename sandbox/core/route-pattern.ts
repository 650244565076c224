/**
 * Fault routes are path patterns, never regular expressions: a route matches a request path when
 * it occurs in it, `*` standing for any run of characters (slashes included). Matching is the
 * greedy wildcard walk with one backtrack point, O(pattern × path) at worst, and both sides are
 * bounded, so no pattern a sandbox user sends can hold the event loop.
 */

/** Longest route a fault rule may carry. */
export const MAX_ROUTE_LENGTH = 200;
/** What a route may contain: the characters of a URL path (RFC 3986 pchar and `/`), `*` among them. */
export const ROUTE_CHARS = /^[A-Za-z0-9\-._~%!$&'()*+,;=:@/]*$/;

/** Longest request path a fault rule is tested against; longer paths are cut there. */
export const MAX_MATCHED_PATH_LENGTH = 2_048;

/** Whether `route` (with `*` wildcards) occurs anywhere in `path`. */
export function routeMatches(route: string, path: string): boolean {
  // Occurring anywhere is matching `*route*` against the whole path; runs of `*` are one.
  const pattern = `*${route.slice(0, MAX_ROUTE_LENGTH)}*`.replace(/\*+/g, '*');
  const text = path.slice(0, MAX_MATCHED_PATH_LENGTH);
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p += 1;
      t += 1;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p;
      p += 1;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      resume += 1;
      t = resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p += 1;
  return p === pattern.length;
}
