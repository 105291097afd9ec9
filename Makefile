# The two commands of a fresh machine:
#   make run    set everything up and run the main job
#   make test   set everything up (with the Python references) and run the test suite
.PHONY: setup setup-dev build run test clean

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

build: setup

run: setup
	scripts/run.sh

test: setup-dev
	swift test

clean:
	rm -rf .build .cache out
