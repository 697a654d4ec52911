// Runs when the native secp256k1 addon could not be built (install step). Not fatal: the node falls
// back to the `secp256k1` package's bundled binding, which is ~25% slower at verification.
process.stderr.write(
  'blyan: native secp256k1 addon not built (is libsecp256k1-dev installed? `apt-get install libsecp256k1-dev`); using the fallback binding\n',
);
