/**
 * Values made on first use rather than when their module loads, so that importing a
 * module reads no environment: Powertools reads its `POWERTOOLS_*` variables when a
 * Logger, Metrics or Tracer is constructed, and the local runtime and tests set them
 * after their imports have loaded.
 */

/** `create()`, called on the first call of the function returned and remembered after. */
export function once<T>(create: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: create() };
    return made.value;
  };
}

/**
 * An object that stands for `create()` and makes it on its first use: a property read,
 * a write, an `in`, an `instanceof` or a spy. Methods come bound to the real object, so a
 * class's private fields work whoever calls them.
 */
export function onFirstUse<T extends object>(create: () => T): T {
  const real = once(create);
  return new Proxy({} as T, {
    get(_, key) {
      const target = real();
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set: (_, key, value) => Reflect.set(real(), key, value),
    has: (_, key) => Reflect.has(real(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    // What a spy (`vi.spyOn`) reads and writes: the real object's own properties.
    getOwnPropertyDescriptor: (_, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
      // A proxy may not report a property its own target lacks as non-configurable.
      return descriptor && { ...descriptor, configurable: true };
    },
    defineProperty: (_, key, descriptor) => Reflect.defineProperty(real(), key, descriptor),
    deleteProperty: (_, key) => Reflect.deleteProperty(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
  });
}
