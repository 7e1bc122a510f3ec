# Entry points. `make test` is what CI runs: deps, build, CTest, then the same suite under ASan+UBSan.
JOBS   ?= $(shell nproc)
BUILD  ?= build
ASAN   ?= build-asan
PORT   ?= 8080
DATA   ?= $(HOME)/.local/share/fakescope
DATASET ?=
SECONDS ?= 60

MINUTES ?= 10

.PHONY: all deps build test test-release test-asan run bench fuzz soak cluster-failover cluster-db-restart clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

$(ASAN)/CMakeCache.txt:
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DFS_SANITIZE=ON >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

test: test-release test-asan

test-release: build
	@echo "== tests (release build)"
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps $(ASAN)/CMakeCache.txt
	@cmake --build $(ASAN) -j $(JOBS)
	@echo "== tests (AddressSanitizer + UndefinedBehaviorSanitizer)"
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

run: build
	@$(BUILD)/fakescope serve --port $(PORT) --data $(DATA) $(if $(DATASET),--dataset $(DATASET))

bench: build
	@scripts/deps.sh --bench
	@bench/run.sh $(BUILD)/fakescope
	@bench/mobilenet_bench.sh $(BUILD)/fakescope
	@bench/http_bench.sh $(BUILD)/fakescope
	@bench/faces.sh $(BUILD)/fakescope
	@bench/scan_bench.sh $(BUILD)/fakescope
	@bench/video_bench.sh $(BUILD)/fakescope
	@bench/isolation_bench.sh $(BUILD)/fakescope
	@cmake --build $(BUILD) --target queue_bench >/dev/null
	@bench/cluster_bench.sh $(BUILD)/fakescope $(BUILD)/queue_bench

# Runs every libFuzzer target (tests/fuzz) for SECONDS each under ASan+UBSan; needs clang. Then
# replays the video and image corpora under valgrind in the release build.
fuzz: build
	@SECONDS_PER_TARGET=$(SECONDS) scripts/fuzz.sh --jobs $(JOBS)

# Load and soak test on 127.0.0.1 for MINUTES (bench/soak): series every 10 s, then checks.
soak: build
	@scripts/deps.sh --soak
	@MINUTES=$(MINUTES) bench/soak $(BUILD)/fakescope

# Several nodes (docs/cluster.md): long runs on a throwaway cluster (scripts/cluster.sh), not in
# `make test`. Failover: 3 nodes behind nginx, 30 video tasks, kill -9 of the busiest node.
cluster-failover: build
	@FAKESCOPE=$(BUILD)/fakescope tests/cluster/failover.sh
# PostgreSQL restarted under load: nodes answer 503 while it is down and recover by themselves.
cluster-db-restart: build
	@FAKESCOPE=$(BUILD)/fakescope tests/cluster/db_restart.sh

clean:
	rm -rf $(BUILD) $(ASAN) build-fuzz
