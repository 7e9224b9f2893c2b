/**
 * A lookup table keyed by text that comes from outside (a method, a header value, a name in a
 * file): it has no prototype, so `__proto__`, `constructor` or `toString` find nothing in it.
 * With a plain object literal they find Object's own members: `Content-Encoding: constructor`
 * picked `Object` as a decoder and the request hung, and a method named `toString` was routed
 * as a list.
 */
export function lookupTable<T extends object>(entries: T): Readonly<T> {
  return Object.freeze(Object.assign(Object.create(null) as T, entries))
}
