# The two commands of the README, and the pieces they are made of.
.PHONY: demo test setup pkg
demo: setup pkg        ## build the package and serve the demo at http://localhost:8080
	node scripts/serve.mjs 8080
test:                  ## install what is needed, then run every check
	bash scripts/test.sh
setup:
	bash scripts/setup.sh
pkg:
	bash scripts/build-pkg.sh
