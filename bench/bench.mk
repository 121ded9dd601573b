# bench/bench.mk — remora-origin and remora-load, included by the top-level Makefile.
# Self-contained: they link libevent, nghttp2 and BoringSSL but not libremora.a, so a broken
# library build never blocks the bench tools. BoringSSL headers are visible to bench objects only.

BENCH_LIBS := -levent_core -levent_pthreads -lnghttp2 -L$(BSSL_LIB) -Wl,-rpath,$(BSSL_LIB) \
              -lssl -lcrypto -lm

BENCH_COMMON_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard bench/common/*.c))
BENCH_ORIGIN_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard bench/origin/*.c))
BENCH_LOAD_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard bench/load/*.c))

$(O)/bench/%.o: CFLAGS += -I$(BSSL_INC)

$(O)/bench/remora-origin: $(BENCH_ORIGIN_OBJS) $(BENCH_COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(BENCH_LIBS)

$(O)/bench/remora-load: $(BENCH_LOAD_OBJS) $(BENCH_COMMON_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(BENCH_LIBS)

BENCH_BINS += $(O)/bench/remora-origin $(O)/bench/remora-load

-include $(BENCH_COMMON_OBJS:.o=.d) $(BENCH_ORIGIN_OBJS:.o=.d) $(BENCH_LOAD_OBJS:.o=.d)

# ---- make bench: the side-by-side benchmark (bench/run.sh; see bench/README.md) --------------
# BENCH_ARGS=--quick for a ~5 minute run; --workers, --scenarios, --out as bench/run.sh takes.
BENCH_ARGS ?= --full
bench: deps
	$(MAKE) --no-print-directory BUILD=release build/release/remora bench-bins
	bash bench/run.sh $(BENCH_ARGS)
