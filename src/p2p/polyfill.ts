/**
 * js-libp2p 3 calls `Promise.withResolvers` (ES2024), which Node 20 lacks: without this every dial and
 * stream crashes with "Promise.withResolvers is not a function". Every module of src/p2p that imports
 * libp2p imports this file first, so the method exists before any libp2p code runs.
 */
interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> };
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = <T>(): Resolvers<T> => {
    let resolve!: Resolvers<T>['resolve'];
    let reject!: Resolvers<T>['reject'];
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export {};
