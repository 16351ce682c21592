/**
 * express-openapi-validator (5.6.x) compiles a path-to-regexp matcher for every route it scans,
 * on every request (upstream: cdimascio/express-openapi-validator#1217, "perf: cache route
 * matchers", open). A compiled matcher depends only on the route and its options, so we memoize
 * `pathToRegexp` of the exact module instance the validator uses. Matchers are never mutated by
 * their callers and the regexps carry no global/sticky state, so sharing them is safe. Remove this
 * once the validator caches them itself.
 */
type PathToRegexp = (path: string, options?: Record<string, unknown>) => unknown;

const MAX_ENTRIES = 10_000;
let installed = false;

export function cacheValidatorRouteMatchers(): void {
  if (installed) return;
  installed = true;
  const file = require.resolve('path-to-regexp', { paths: [require.resolve('express-openapi-validator')] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(file) as { pathToRegexp: PathToRegexp };
  const compile = mod.pathToRegexp;
  const cache = new Map<string, unknown>();
  mod.pathToRegexp = (path, options) => {
    if (typeof path !== 'string') return compile(path, options);
    const key = `${path}\u0000${options ? JSON.stringify(options) : ''}`;
    let matcher = cache.get(key);
    if (matcher === undefined) {
      matcher = compile(path, options);
      if (cache.size >= MAX_ENTRIES) cache.clear();
      cache.set(key, matcher);
    }
    return matcher;
  };
}
