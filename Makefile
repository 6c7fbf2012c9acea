# The two commands of the README, and the pieces they are made of.
.PHONY: demo test setup pkg static-demo bench bench-server api-docs
demo: setup pkg        ## build the package and start the reference PHR server at http://localhost:8080
	cargo run --locked -p medseal-server
test: setup            ## install what is needed, then run every check
	bash scripts/test.sh
setup:
	bash scripts/setup.sh
pkg:
	bash scripts/build-pkg.sh
static-demo: setup pkg ## the server-less demo page (examples/demo) at http://localhost:8080
	node scripts/serve.mjs 8080
bench: setup pkg bench-server ## medseal against WebCrypto, @noble/ciphers, age-encryption in Node and Chromium -> docs/BENCHMARKS.md
	node bench/run.mjs
bench-server: setup    ## bounded load run of the reference server on 127.0.0.1 -> docs/BENCHMARKS-SERVER.md
	cargo build --release --locked -p medseal-server --bins --examples
	target/release/examples/load
api-docs: pkg          ## regenerate the API reference (docs/api) from the TSDoc in js/
	node_modules/.bin/typedoc
