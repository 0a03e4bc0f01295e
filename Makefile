# dsq — one entry point.  `make` builds lib/libdsq.a and tools/dsq-*;
# `make check` installs what the tests need and runs them all;
# `make demo` runs the main job on shipped data.  See README.md.

PREFIX  ?= /usr/local
CC      ?= cc
PYTHON  ?= build/venv/bin/python
SHARED  ?= ../shared
export DSQ_SHARED := $(abspath $(SHARED))

# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer build in build-san/.
ifeq ($(SAN),1)
  BUILD   := build-san
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LIBA    := $(BUILD)/lib/libdsq.a
  BINDIR  := $(BUILD)/tools
else
  BUILD   := build
  SANFLAGS :=
  LIBA    := lib/libdsq.a
  BINDIR  := tools
endif

# -march is opt-in (NATIVE=1) and only if the compiler accepts it, so a
# default build runs on any x86-64 machine.
ifeq ($(NATIVE),1)
  MARCH := $(shell $(CC) -march=native -E -x c /dev/null >/dev/null 2>&1 && echo -march=native)
endif

CFLAGS  ?= -O2 -g
# Nothing reads errno after a math call; without errno GCC inlines sqrtf and
# can vectorise loops that call it (AdamW).  -O2's "very cheap" vectoriser
# cost model leaves every loop whose trip count is not known scalar (bias,
# residual, LayerNorm, optimiser loops); the dynamic model vectorises them.
# Neither reorders float arithmetic, so results do not change.
CFLAGS  += -fno-math-errno -fvect-cost-model=dynamic
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp -Ilib $(MARCH) $(SANFLAGS)
LDLIBS  := -ljansson -lzstd -lutf8proc -lopenblas -lm
LDFLAGS += -fopenmp $(SANFLAGS)

# CUDA: built into the library whenever nvcc exists, unless NO_CUDA=1.
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
ifeq ($(NO_CUDA),1)
  NVCC :=
endif
ifneq ($(NVCC),)
  CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
  CUDA_ARCH  ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
  NVCCFLAGS  ?= -O2 -g -std=c++17 $(CUDA_ARCH) -Xcompiler -Wall,-Wextra -Ilib
  CFLAGS     += -DDSQ_HAVE_CUDA
  CUDA_SRCS  := $(wildcard kernels/*.cu)
  CUDA_OBJS  := $(CUDA_SRCS:kernels/%.cu=$(BUILD)/obj/kernels/%.o)
  # Static cudart: the binaries start on machines without a CUDA runtime.
  LDLIBS     += -L$(CUDA_HOME)/lib64 -lcudart_static -lstdc++ -ldl -lrt -lpthread
  $(info dsq: CUDA: nvcc at $(NVCC); building kernels/ into libdsq ($(CUDA_ARCH)))
else
  $(info dsq: CUDA: off (no nvcc found, or NO_CUDA=1); CPU backend only)
endif

# MPI (data-parallel dsq-train): built in whenever mpicc exists, unless
# NO_MPI=1. Such binaries still run as a single process without mpirun.
ifneq ($(NO_MPI),1)
  MPICC ?= $(shell command -v mpicc 2>/dev/null)
endif
ifneq ($(MPICC),)
  CFLAGS += -DDSQ_HAVE_MPI $(shell $(MPICC) --showme:compile)
  LDLIBS += $(shell $(MPICC) --showme:link)
  $(info dsq: MPI: $(MPICC); dsq-train runs data-parallel under mpirun)
else
  $(info dsq: MPI: off (no mpicc found, or NO_MPI=1); single-process training)
endif

LIB_SRCS  := $(wildcard lib/*.c)
LIB_OBJS  := $(LIB_SRCS:lib/%.c=$(BUILD)/obj/lib/%.o)
TOOL_SRCS := $(wildcard tools/dsq-*.c)
TOOLS     := $(TOOL_SRCS:tools/%.c=$(BINDIR)/%)
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TESTS     := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
MANPAGES  := $(wildcard man/*.[157])

.PHONY: all check check-build demo bench install clean deps test-deps fuzz
all: $(LIBA) $(TOOLS)

$(BUILD)/obj/lib/%.o: lib/%.c $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/kernels/%.o: kernels/%.cu $(wildcard kernels/*.h lib/*.h)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJS) $(CUDA_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BINDIR)/%: tools/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

# System packages (Debian), installed when missing; a fast no-op otherwise.
deps:
	@scripts/deps.sh build

# What the tests need on top: bats, jq, Python oracles (Debian + PyPI venv).
test-deps: deps
	@scripts/deps.sh test

check-build: all $(TESTS)

check: test-deps
	@$(MAKE) --no-print-directory check-build
	@DSQ_BIN=$(abspath $(BINDIR)) DSQ_TESTBIN=$(abspath $(BUILD)/tests) \
	  DSQ_PYTHON=$(abspath $(PYTHON)) DSQ_BUILD=$(abspath $(BUILD)) \
	  tests/run

# Longer fuzzing than the seconds `make check` spends.
FUZZ_SECONDS ?= 300
fuzz: test-deps
	@DSQ_FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run

demo: deps all
	@DSQ_BIN=$(abspath $(BINDIR)) pipelines/demo.sh

bench: test-deps all
	@DSQ_BIN=$(abspath $(BINDIR)) DSQ_PYTHON=$(abspath $(PYTHON)) bench/run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/dsq
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 lib/*.h $(DESTDIR)$(PREFIX)/include/dsq/
	for m in $(MANPAGES); do s=$${m##*.}; \
	  install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
	  install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done

clean:
	rm -rf build build-san lib/libdsq.a $(TOOL_SRCS:tools/%.c=tools/%)
