# Remora — non-recursive Makefile. `make help` lists the targets.
#
#   make            release build (-O2 -g) of remora, remora-load, remora-origin into build/release/
#                   (needs only `make deps`; the unit tests build with `make test`)
#   make run        install missing packages, build, run on config/examples/default.yaml
#   make test       install missing packages, build, run unit + integration + fuzz replay
#   make asan       the same tests on an ASan+UBSan build (build/asan/)
#   make debug      -O0 build with RM_DEBUG checks (build/debug/)
#   make fuzz       libFuzzer targets (clang) into build/fuzz/
#   make lint       clang-format check + cppcheck
#   make bench      side-by-side benchmarks (see bench/)
#   make deps       install missing Debian packages (idempotent, silent when none missing)

BUILD ?= release
O := build/$(BUILD)
CC ?= cc
PYTEST ?= /usr/bin/python3 -m pytest

BSSL_INC := /usr/include/android
BSSL_LIB := /usr/lib/x86_64-linux-gnu/android

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wimplicit-fallthrough -Wundef -Wpointer-arith -Wno-unused-parameter
# BoringSSL's headers come before the system's: OpenSSL must never be compiled or linked in.
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -I. -I$(BSSL_INC) -MMD -MP -pthread -fno-strict-aliasing \
               -DRM_BSSL_LIB='"$(BSSL_LIB)"'

ifeq ($(BUILD),release)
  # -fno-plt with -z now (full RELRO): calls into libevent and libc go straight through the
  # GOT, which is read-only once the process starts (about 1% fewer instructions per request).
  MODE_CFLAGS := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fno-plt
  MODE_LDFLAGS := -Wl,-z,relro,-z,now
else ifeq ($(BUILD),debug)
  MODE_CFLAGS := -O0 -g3 -DRM_DEBUG=1
else ifeq ($(BUILD),asan)
  MODE_CFLAGS := -O1 -g -DRM_DEBUG=1 -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=undefined
  MODE_LDFLAGS := -fsanitize=address,undefined
else
  $(error BUILD must be release, debug or asan)
endif

CFLAGS ?=
CFLAGS += $(BASE_CFLAGS) $(MODE_CFLAGS)
LDFLAGS += $(MODE_LDFLAGS) -pthread
# libcrypto only: libssl is dlopen()ed when the first TLS context is built (proxy/ssl_lazy.h),
# because Debian's libssl pulls in libstdc++ (about 1.5 MiB resident in every process).
LIBS := -levent_core -levent_pthreads -lyaml -lcares -lpcre2-8 -lnghttp2 -lm \
        -L$(BSSL_LIB) -Wl,-rpath,$(BSSL_LIB) -lcrypto

# Everything but main.c goes into one static library shared by the binary, the unit tests,
# the fuzzers and the bench tools.
LIB_SRCS := $(filter-out proxy/main.c,$(wildcard proxy/*.c config/*.c filters/*.c filters/*/*.c xds/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)
LIB := $(O)/libremora.a
BIN := $(O)/remora

UNIT_SRCS := $(shell find tests/unit -name '*_test.c' 2>/dev/null | sort)
UNIT_BINS := $(UNIT_SRCS:%.c=$(O)/%)

.PHONY: all release debug asan build test check unit integration fuzz fuzz-replay run deps \
        deps-test lint format help clean bench
.DEFAULT_GOAL := all

all: $(BIN) bench-bins
build: $(BIN) $(UNIT_BINS) bench-bins

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(O)/proxy/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(O)/tests/unit/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LIBS) -lcmocka

# The bench tools (remora-load, remora-origin) come from bench/bench.mk when present.
BENCH_BINS :=
-include bench/bench.mk
bench-bins: $(BENCH_BINS)
.PHONY: bench-bins

release:
	$(MAKE) BUILD=release build
debug:
	$(MAKE) BUILD=debug build

# ---- packages -------------------------------------------------------------------------------
DEPS_BUILD := gcc make pkg-config libevent-dev libyaml-dev libc-ares-dev libnghttp2-dev \
              android-libboringssl-dev libxxhash-dev libpcre2-dev libprotobuf-c-dev libseccomp-dev
DEPS_TEST := libcmocka-dev python3-pytest curl clang libclang-rt-14-dev nghttp2-client procps \
             iproute2 wrk openssl util-linux python3-websockets python3-h2
DEPS_LINT := clang-format cppcheck

define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: need root to install:$$missing" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	    || { echo "deps: apt-get install failed for:$$missing" >&2; exit 1; }; \
	fi
endef

deps:
	$(call install_missing,$(DEPS_BUILD))
deps-test: deps
	$(call install_missing,$(DEPS_TEST))

# ---- run --------------------------------------------------------------------------------------
RUN_ARGS ?=
run: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD) $(BIN)
	$(BIN) -c config/examples/default.yaml $(RUN_ARGS)

# ---- tests ------------------------------------------------------------------------------------
test: deps-test
	@$(MAKE) --no-print-directory BUILD=$(BUILD) check

# One suite after the other (never in parallel, even under -j): timing-sensitive
# integration tests must not compete with the fuzzers for the CPUs.
check: build
	@$(MAKE) --no-print-directory BUILD=$(BUILD) unit
	@$(MAKE) --no-print-directory BUILD=$(BUILD) integration
	@$(MAKE) --no-print-directory fuzz-replay

unit: $(UNIT_BINS)
	@set -e; fail=0; for t in $(UNIT_BINS); do \
	  echo "== $$t"; $$t || fail=1; \
	done; exit $$fail

integration: $(BIN) bench-bins
	REMORA_BIN=$(abspath $(BIN)) REMORA_BUILD_DIR=$(abspath $(O)) $(PYTEST) -q -p no:cacheprovider tests/integration

asan:
	@$(MAKE) --no-print-directory deps-test
	@$(MAKE) --no-print-directory BUILD=asan check

# ---- fuzzing (clang + libFuzzer) --------------------------------------------------------------
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build/fuzz/obj/%.o)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -I. -I$(BSSL_INC) -DRM_BSSL_LIB='"$(BSSL_LIB)"' -g -O1 -DRM_DEBUG=1 -fsanitize=fuzzer-no-link,address,undefined \
               -fno-omit-frame-pointer -Wall -Wextra -Werror -Wno-unused-parameter -pthread
FUZZ_SECONDS ?= 10

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(LIBS)

fuzz: $(FUZZ_BINS)

# The objects are not intermediate files: keep them between runs.
.SECONDARY: $(FUZZ_LIB_OBJS)

# Short, bounded runs over the checked-in corpus: a regression net, not a fuzzing campaign.
fuzz-replay: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do \
	  n=$$(basename $$f); c=tests/fuzz/corpus/$$n; mkdir -p build/fuzz/work/$$n; \
	  d=tests/fuzz/$$n.dict; case $$n in fuzz_h1_*) d=tests/fuzz/http.dict;; esac; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=2048 -print_final_stats=0 \
	     $$( [ -f $$d ] && echo -dict=$$d ) \
	     build/fuzz/work/$$n $$( [ -d $$c ] && echo $$c ) >build/fuzz/work/$$n.log 2>&1 \
	     || { tail -50 build/fuzz/work/$$n.log; exit 1; }; \
	done

# ---- lint -------------------------------------------------------------------------------------
C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
lint:
	$(call install_missing,$(DEPS_LINT))
	clang-format --dry-run --Werror $(C_FILES)
	cppcheck -q --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
	  --suppress=missingIncludeSystem -I. -D__GNUC__ $(filter %.c,$(C_FILES))
format:
	clang-format -i $(C_FILES)

clean:
	rm -rf build

help:
	@sed -n '2,12p' Makefile | sed 's/^# \{0,1\}//'

-include $(LIB_OBJS:.o=.d) $(O)/proxy/main.d $(FUZZ_LIB_OBJS:.o=.d)
