# dsq — one entry point.  `make` builds lib/libdsq.a and tools/dsq-*;
# `make check` installs what the tests need and runs them all;
# `make demo` runs the main job on shipped data.  See README.md.

PREFIX  ?= /usr/local
CC      ?= cc
PYTHON  ?= build/venv/bin/python

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

# The library's folders (doc/ARCHITECTURE.md): lib/<layer>/ (the layers'
# sources and private headers), kernels/cpu/ and kernels/cuda/ (the two
# backends), kernels/ (what both backends share: numerics.h), and
# include/dsq/ (the public headers).  Header names are unique across them
# and every folder is on the include path, so sources include headers by
# bare name (tests/checks/layers.sh checks both).
LIB_DIRS  := $(sort $(patsubst %/,%,$(dir $(wildcard lib/*/*.[ch]))))
SRC_DIRS  := $(LIB_DIRS) kernels/cpu kernels/cuda
INCLUDES  := -Iinclude/dsq -Ikernels $(addprefix -I,$(SRC_DIRS))

CFLAGS  ?= -O2 -g
# Nothing reads errno after a math call; without errno GCC inlines sqrtf and
# can vectorise loops that call it (AdamW).  -O2's "very cheap" vectoriser
# cost model leaves every loop whose trip count is not known scalar (bias,
# residual, LayerNorm, optimiser loops); the dynamic model vectorises them.
# Neither reorders float arithmetic, so results do not change.
CFLAGS  += -fno-math-errno -fvect-cost-model=dynamic
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -fopenmp $(INCLUDES) $(MARCH) $(SANFLAGS)
LDLIBS  := -ljansson -lzstd -lutf8proc -lnettle -lopenblas -lm
LDFLAGS += -fopenmp $(SANFLAGS)

# CUDA: built into the library whenever nvcc exists, unless NO_CUDA=1.
NVCC ?= $(shell command -v nvcc 2>/dev/null || { test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc; })
ifeq ($(NO_CUDA),1)
  NVCC :=
endif
ifneq ($(NVCC),)
  CUDA_HOME  ?= $(patsubst %/bin/nvcc,%,$(NVCC))
  # CUDA_ARCH: the GPUs the library runs on, as compute capabilities.
  # SASS for each (A100 80, A10/A40/RTX 30xx 86, L4/L40/RTX 40xx 89, H100
  # 90; bf16 tensor cores need 80+) and PTX of the newest, which the driver
  # compiles for later GPUs.  CUDA_ARCH=native: the GPUs of this machine
  # only (nvcc -arch=native; needs one); flags starting with '-' are passed
  # as they are.  Measured on 2 loaded cores: the CUDA objects take 59 s
  # for these four against 24 s for sm_90 alone, 2.5 MB against 1.6 MB
  # (doc/multi-gpu.md).
  CUDA_ARCH  ?= 80 86 89 90
  ifeq ($(strip $(CUDA_ARCH)),native)
    CUDA_GENCODE := -arch=native
  else ifeq ($(filter -%,$(firstword $(CUDA_ARCH))),)
    CUDA_GENCODE := $(foreach a,$(CUDA_ARCH),-gencode arch=compute_$(a),code=sm_$(a)) \
                    -gencode arch=compute_$(lastword $(CUDA_ARCH)),code=compute_$(lastword $(CUDA_ARCH))
  else
    CUDA_GENCODE := $(CUDA_ARCH)
  endif
  NVCCFLAGS  ?= -O2 -g -std=c++17 $(CUDA_GENCODE) -Xcompiler -Wall,-Wextra $(INCLUDES)
  CFLAGS     += -DDSQ_HAVE_CUDA
  CUDA_SRCS  := $(wildcard kernels/cuda/*.cu)
  # The backend (kernels/cuda/*.cu) needs cuBLAS, which exists only as a
  # shared library; without it only device discovery (device.cu) is built.
  CUBLAS_DIR := $(firstword $(patsubst %/libcublas.so,%,$(wildcard $(CUDA_HOME)/lib64/libcublas.so \
                  $(CUDA_HOME)/targets/x86_64-linux/lib/libcublas.so /usr/lib/x86_64-linux-gnu/libcublas.so)))
  ifneq ($(CUBLAS_DIR),)
    CFLAGS   += -DDSQ_HAVE_CUDA_BACKEND
    # --as-needed keeps cuBLAS out of the binaries that do not use the backend
    LDLIBS   += -L$(CUBLAS_DIR) -Wl,--push-state,--as-needed -lcublas -Wl,--pop-state
  else
    CUDA_SRCS := kernels/cuda/device.cu
    $(info dsq: CUDA: no cuBLAS next to nvcc: the CUDA backend is left out)
  endif
  # foo.cu.o, so that no two members of libdsq.a share a name (the CPU and
  # CUDA backends' files have the same stems).
  CUDA_OBJS  := $(CUDA_SRCS:%.cu=$(BUILD)/obj/%.cu.o)
  # Static cudart: the binaries start on machines without a CUDA runtime.
  LDLIBS     += -L$(CUDA_HOME)/lib64 -lcudart_static -lstdc++ -ldl -lrt -lpthread
  $(info dsq: CUDA: nvcc at $(NVCC); building kernels/cuda/ into libdsq (CUDA_ARCH=$(strip $(CUDA_ARCH))))
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

# NCCL (the device all-reduce of data-parallel training): with the CUDA
# backend and MPI (which carries its id), when the toolkit has nccl.h and
# libnccl beside it, unless NO_NCCL=1.  Shared, like cuBLAS.
ifeq ($(filter 1,$(NO_NCCL)),)
  ifneq ($(and $(NVCC),$(CUBLAS_DIR),$(MPICC),$(wildcard $(CUDA_HOME)/include/nccl.h)),)
    NCCL_DIR := $(firstword $(patsubst %/libnccl.so,%,$(wildcard $(CUDA_HOME)/lib64/libnccl.so \
                  $(CUDA_HOME)/targets/x86_64-linux/lib/libnccl.so /usr/lib/x86_64-linux-gnu/libnccl.so)))
  endif
endif
ifneq ($(NCCL_DIR),)
  NVCCFLAGS += -DDSQ_HAVE_NCCL
  LDLIBS    += -L$(NCCL_DIR) -Wl,--push-state,--as-needed -lnccl -Wl,--pop-state
  $(info dsq: NCCL: $(NCCL_DIR); data-parallel --device cuda sums gradients on the GPUs)
else ifneq ($(CUBLAS_DIR),)
  $(info dsq: NCCL: off (no nccl.h/libnccl beside nvcc, no MPI, or NO_NCCL=1); gradients summed through host MPI)
endif

# The C sources of the library: every layer, the CPU backend, and the
# CUDA backend's stand-in for builds without it (kernels/cuda/none.c).
LIB_SRCS  := $(wildcard $(addsuffix /*.c,$(SRC_DIRS)))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TOOL_SRCS := $(wildcard tools/dsq-*.c)
TOOLS     := $(TOOL_SRCS:tools/%.c=$(BINDIR)/%)
TEST_SRCS := $(wildcard tests/unit/test_*.c)
TESTS     := $(TEST_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
MANPAGES  := $(wildcard man/*.[157])

.PHONY: all check check-build demo bench install clean deps test-deps fuzz
all: $(LIBA) $(TOOLS)

# The tool-facing API, what `make install` installs to PREFIX/include/dsq;
# the other headers are private to the library.
PUBLIC_HEADERS := $(wildcard include/dsq/*.h)

# Each object depends on the headers it includes, as the compiler lists
# them in foo.d beside foo.o (-MMD: not the system headers; -MP: a removed
# header is no error).  An object whose .d is missing is rebuilt (the empty
# rule for the .d files).  Tools link libdsq.a and tests
# libdsq-internal.a, which every header change rebuilds, so they need no
# list of their own.
DEPFILES := $(LIB_OBJS:.o=.d) $(CUDA_OBJS:.o=.d)

$(BUILD)/obj/%.o: %.c $(BUILD)/obj/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -MF $(@:.o=.d) -c -o $@ $<

$(BUILD)/obj/%.cu.o: %.cu $(BUILD)/obj/%.cu.d
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) $(NVCC_EXTRA) -MMD -MP -MF $(@:.o=.d) -c -o $@ $<

$(DEPFILES):
include $(wildcard $(DEPFILES))

# The fp32 backend kernels round like the CPU backend: no contraction of
# a*b+c into FMA (they are memory-bound; cuBLAS is not affected).  Device
# discovery has no arithmetic.
ifneq ($(CUDA_OBJS),)
$(filter-out %/device.cu.o,$(CUDA_OBJS)): NVCC_EXTRA := --fmad=false
endif

# libdsq.a, the installed library, defines only the API's symbols (dsq_*,
# DSQ_*; tests/checks/symbols.sh).  A file's own helpers are static; the
# files of a backend call each other (cpu_*, cu_*), so each backend is one
# member of the archive: its objects linked together (ld -r) and every
# symbol but the API's made local (objcopy).  The other objects stay a
# member each, so that a program still pulls only what it uses
# (dsq-tokenize needs neither OpenBLAS nor cuBLAS).  The unit tests reach
# into the library (cpu_gemm, cpu_gelu_as_torch): they link
# libdsq-internal.a, every object as compiled; check_ops and the benches
# need only the API and link libdsq.a.
LIBI := $(BUILD)/libdsq-internal.a
CPU_BE_OBJS  := $(filter $(BUILD)/obj/kernels/cpu/%,$(LIB_OBJS))
CUDA_BE_OBJS := $(filter-out %/device.cu.o,$(CUDA_OBJS))
BE_MEMBERS   := $(BUILD)/obj/backend-cpu.o $(if $(CUDA_BE_OBJS),$(BUILD)/obj/backend-cuda.o)
PUB_OBJS     := $(filter-out $(CPU_BE_OBJS) $(CUDA_BE_OBJS),$(LIB_OBJS) $(CUDA_OBJS)) $(BE_MEMBERS)
OBJCOPY ?= objcopy
API_ONLY = $(LD) -r -o $@.r $^ && $(OBJCOPY) --wildcard --keep-global-symbol='dsq_*' \
  --keep-global-symbol='DSQ_*' $@.r $@ && rm -f $@.r

$(BUILD)/obj/backend-cpu.o: $(CPU_BE_OBJS)
	$(API_ONLY)

$(BUILD)/obj/backend-cuda.o: $(CUDA_BE_OBJS)
	$(API_ONLY)

$(LIBA): $(PUB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIBI): $(LIB_OBJS) $(CUDA_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BINDIR)/%: tools/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(LIBI)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIBI) $(LDFLAGS) $(LDLIBS)

# System packages (Debian), installed when missing; a fast no-op otherwise.
deps:
	@scripts/deps.sh build

# What the tests need on top: bats, jq, Python oracles (Debian + PyPI venv).
test-deps: deps
	@scripts/deps.sh test

# CPU-vs-CUDA parity of every backend operation and of the whole model
# (tests/cuda/check_ops.c); built by check-build, run by check-cuda. It
# skips (exit 77) where there is no CUDA build or no GPU.
CHECK_OPS := $(BUILD)/tests/check_ops
CHECK_OPS_SRCS := $(wildcard tests/cuda/*.c)
$(CHECK_OPS): $(CHECK_OPS_SRCS) $(wildcard tests/cuda/*.h) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/cuda -o $@ $(CHECK_OPS_SRCS) $(LIBA) $(LDFLAGS) $(LDLIBS)

# Per-operation and model-step timings on the GPU (bench/gpu-check.sh).
CUDA_BENCH := $(BUILD)/bench/cuda_bench
$(CUDA_BENCH): bench/cuda_bench.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

# Rates at the paper's shape (make bench-cuda, bench/gpu/bench-cuda.sh).
CUDA_PAPER := $(BUILD)/bench/cuda_paper
$(CUDA_PAPER): bench/cuda_paper.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIBA) $(LDFLAGS) $(LDLIBS)

check-build: all $(TESTS) $(CHECK_OPS)

# check_ops, cuda_bench, cuda_paper and the tools gpu-check runs, for a GPU
# machine whose image lacks the build dependencies (bench/gpu-check.sh
# falls back to them): jansson, zstd,
# utf8proc and OpenBLAS linked statically, no MPI; cuBLAS, the C and C++
# runtimes and libgomp stay shared (a CUDA image has them).  Also packed
# as build/gpu-prebuilt.tgz, the one path to carry to a GPU machine.
PREBUILT := build/gpu-prebuilt
STATIC_LIBS := -no-pie -Wl,-Bstatic -ljansson -lzstd -lutf8proc -lnettle -lopenblas -Wl,-Bdynamic -lm \
  -L$(CUBLAS_DIR) -lcublas -L$(CUDA_HOME)/lib64 -lcudart_static -lstdc++ -ldl -lrt -lpthread
.PHONY: gpu-prebuilt
gpu-prebuilt:
	@test -n "$(NVCC)" -a -n "$(CUBLAS_DIR)" || { echo "gpu-prebuilt: needs nvcc and cuBLAS"; exit 1; }
	$(MAKE) --no-print-directory NO_MPI=1 BUILD=$(PREBUILT) LIBA=$(PREBUILT)/libdsq.a \
	  BINDIR=$(PREBUILT)/tools $(PREBUILT)/libdsq.a
	$(CC) $(filter-out -DDSQ_HAVE_MPI -I/%,$(CFLAGS)) -Itests/cuda -o $(PREBUILT)/check_ops \
	  $(CHECK_OPS_SRCS) $(PREBUILT)/libdsq.a -fopenmp $(STATIC_LIBS)
	for b in cuda_bench cuda_paper; do \
	  $(CC) $(filter-out -DDSQ_HAVE_MPI -I/%,$(CFLAGS)) -o $(PREBUILT)/$$b \
	    bench/$$b.c $(PREBUILT)/libdsq.a -fopenmp $(STATIC_LIBS) || exit 1; done
	@mkdir -p $(PREBUILT)/tools
	for t in dsq-train dsq-sample dsq-tokenize; do \
	  $(CC) $(filter-out -DDSQ_HAVE_MPI -I/%,$(CFLAGS)) -o $(PREBUILT)/tools/$$t \
	    tools/$$t.c $(PREBUILT)/libdsq.a -fopenmp $(STATIC_LIBS) || exit 1; done
	strip --strip-debug $(PREBUILT)/check_ops $(PREBUILT)/cuda_bench $(PREBUILT)/cuda_paper \
	  $(PREBUILT)/tools/*
	@rm -rf $(PREBUILT)/obj $(PREBUILT)/libdsq.a  # only the binaries travel
	@ls -l $(PREBUILT) $(PREBUILT)/tools
	# one archive to carry (the binaries hold OpenBLAS each: ~90 MB as files)
	tar -C build -czf $(PREBUILT).tgz gpu-prebuilt
	@ls -l $(PREBUILT).tgz

# Training and decoding rates at the paper's shape on a GPU, with the
# PyTorch reference on the same GPU where torch has CUDA (JSON lines);
# without a GPU it says so and exits 0.
.PHONY: bench-cuda
bench-cuda: $(CUDA_PAPER)
	@DSQ_CUDA_PAPER=$(abspath $(CUDA_PAPER)) bench/gpu/bench-cuda.sh

.PHONY: check-cuda check-cuda-emu
check-cuda: $(CHECK_OPS)
	@$(CHECK_OPS); rc=$$?; \
	  if [ $$rc -eq 77 ]; then echo "check-cuda: skipped"; exit 0; fi; exit $$rc

# The same checks without a GPU: kernels/cuda/ compiled for the host through a
# small CUDA emulation (tests/cuda/emu; minutes, single-threaded fibers).
check-cuda-emu: all
	@OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} tests/cuda/emu/run.sh

# The include rule of the layers alone (tests/checks/layers.sh, also part
# of make check): fails on an include against the layer order.
.PHONY: check-layers
check-layers:
	@out=$$(tests/checks/layers.sh); printf '%s\n' "$$out"; \
	  ! printf '%s\n' "$$out" | grep -q '^FAIL'

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
	install -m 644 $(PUBLIC_HEADERS) $(DESTDIR)$(PREFIX)/include/dsq/
	install -d $(DESTDIR)$(PREFIX)/share/dsq
	install -m 644 data/vocab/bert-base-uncased.txt $(DESTDIR)$(PREFIX)/share/dsq/
	for m in $(MANPAGES); do s=$${m##*.}; \
	  install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
	  install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done

# What a program linked against libdsq.a needs after it on the command
# line (the last line of `make -s print-link`; tests/checks/install.sh).
.PHONY: print-link print-includes print-cuda-arch
# The CUDA architectures the library is built for (CUDA_ARCH; empty
# without nvcc; tests/checks/cuda_arch.sh).
print-cuda-arch:
	@echo $(if $(NVCC),$(strip $(CUDA_ARCH)))
print-link:
	@echo $(LDFLAGS) $(LDLIBS)
# The include flags of a program built against the source tree's headers,
# private ones included (the benchmarks: bench/*.sh).
print-includes:
	@echo $(INCLUDES)

clean:
	rm -rf build build-san lib/libdsq.a $(TOOL_SRCS:tools/%.c=tools/%)
