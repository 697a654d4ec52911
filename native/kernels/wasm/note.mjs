// Runs when the wasm kernels could not be built (install step). Not fatal: the plain-JS kernels remain.
process.stderr.write('blyan: wasm kernels not built (is the assemblyscript package installed?); plain JS kernels will be used if the native ones are missing too\n');
