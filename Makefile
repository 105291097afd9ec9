# The two commands of a fresh machine:
#   make run    set everything up and start the service on port 3000
#   make test   set everything up (with the Python references) and run the test suite
# Other targets: make build, make bench / bench-inference / bench-parallel / bench-stream / bench-voices /
# bench-queue (figures on this machine).
.PHONY: setup setup-dev build build-release run test bench bench-inference bench-parallel bench-stream bench-voices bench-queue clean

# OpenVINO's C library lives in the project's .venv (see scripts/setup.sh): its pkg-config file is in
# .cache/pkgconfig, and the binaries find the library through an rpath.
export PKG_CONFIG_PATH := $(CURDIR)/.cache/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))
SWIFT_FLAGS := -Xlinker -rpath -Xlinker $(CURDIR)/.cache/openvino/libs

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

build: setup
	swift build $(SWIFT_FLAGS)

build-release: setup
	swift build -c release $(SWIFT_FLAGS)

# The service runs the release build (debug is several times slower at rendering).
run: build-release
	scripts/run.sh

test: setup-dev
	swift build --build-tests $(SWIFT_FLAGS)
	swift test --skip-build $(SWIFT_FLAGS)

# Benchmarks print tables of figures measured in one run (release build, full-size test model).
bench: setup-dev
	swift build -c release $(SWIFT_FLAGS)
	.build/release/lipsync bench e2e

bench-inference: setup-dev
	swift build -c release $(SWIFT_FLAGS)
	.build/release/lipsync bench inference

bench-parallel: setup-dev
	swift build -c release $(SWIFT_FLAGS)
	.build/release/lipsync bench parallel
	.build/release/lipsync bench parallel --engine wav2lip

bench-stream: setup-dev
	swift build -c release $(SWIFT_FLAGS)
	.build/release/lipsync bench stream

bench-voices: setup-dev
	swift build -c release $(SWIFT_FLAGS)
	.build/release/lipsync bench voices

# The PostgreSQL job queue: claim latency, per-job overhead and throughput of two workers vs in-process,
# against a throwaway cluster (scripts/with_postgres.sh).
bench-queue: setup-dev
	swift build -c release $(SWIFT_FLAGS)
	scripts/with_postgres.sh .build/release/lipsync bench queue

clean:
	rm -rf .build .cache out
