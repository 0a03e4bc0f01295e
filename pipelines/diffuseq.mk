# A DiffuSeq experiment as a Makefile DAG: JSONL → tensor streams → trained
# run → one decode per seed → MBR → scores.  Every stage is a real file, so
# make re-runs only what changed (a new test set re-decodes and re-scores;
# it does not retrain), and `make -j` decodes the seeds in parallel.
#
#   make -f pipelines/diffuseq.mk DATA=datasets/QQP OUT=out/qqp [VAR=value ...]
#   make -f pipelines/diffuseq.mk ... report     the figures as a table
#   make -f pipelines/diffuseq.mk ... plot       training curves as PNG
#
# DATA holds train.jsonl, test.jsonl and (optionally) valid.jsonl, lines
# {"src": ..., "trg": ...}.  The recipes pipelines/{qqp,qg,wiki,dialogue}.mk
# set the paper's values and include this file; see man 7 dsq.

PIPELINES := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

# --- a pretrained encoder (optional) ----------------------------------------
# INIT_PLM=DIR: start from a HuggingFace BERT directory (dsq-train --init-plm,
# the reference's --use_plm_init bert).  Its config.json then gives the
# encoder's shape and HIDDEN_DIM (CONFIG is not passed), its vocab.txt is the
# default VOCAB, and the run is retrained when DIR's files change.
INIT_PLM   ?=

# --- data and tokenizer -----------------------------------------------------
DATA       ?= data/qqp
TRAIN_JSONL ?= $(DATA)/train.jsonl
VALID_JSONL ?= $(wildcard $(DATA)/valid.jsonl)
TEST_JSONL ?= $(DATA)/test.jsonl
OUT        ?= out
# wordpiece: VOCAB is a BERT vocab.txt.  word: a word list built from the
# training pairs (words seen at least MIN_COUNT times) unless VOCAB names one.
VOCAB_KIND ?= wordpiece
VOCAB      ?= $(if $(filter word,$(VOCAB_KIND)),,$(if $(INIT_PLM),$(INIT_PLM)/vocab.txt,$(PIPELINES)/../data/vocab/bert-base-uncased.txt))
MIN_COUNT  ?= 1
SEQ_LEN    ?= 128

# --- model and training (dsq-train; the reference's defaults) ---------------
CONFIG          ?= bert-base
HIDDEN_DIM      ?= $(if $(INIT_PLM),$(shell jq -r .hidden_size $(INIT_PLM)/config.json),128)
DIFF_STEPS      ?= 2000
NOISE_SCHEDULE  ?= sqrt
SCHEDULE_SAMPLER ?= lossaware
LR              ?= 1e-4
LEARNING_STEPS  ?= 50000
BSZ             ?= 2048
MICROBATCH      ?= 64
SAVE_INTERVAL   ?= 10000
LOG_INTERVAL    ?= 20
TRAIN_SEED      ?= 102
EMA_RATE        ?= 0.9999
# Anything else for dsq-train: --layers/--hidden/..., v2 flags
# (--learned-mean-embed --denoise --denoise-rate R), --dropout, --eval-interval.
TRAIN_OPTS      ?=

# --- decoding, MBR, scoring -------------------------------------------------
SAMPLER     ?= dpm++
STEPS       ?= 10
SEEDS       ?= 101 102 103
SAMPLE_BATCH ?=
SAMPLE_OPTS ?=
# The markers scoring removes: BERT's [CLS]/[SEP] (the tools' defaults), or
# the word vocabulary's [START]/[END], which would otherwise count as words.
CLEAN ?= $(if $(filter word,$(VOCAB_KIND)),--sos '[START]' --eos '[END]' --sep '[END]')
MBR_OPTS    ?=
SCORE_OPTS  ?=

# --- execution --------------------------------------------------------------
# THREADS: per process (empty: all cores).  MPI: a launcher put in front of
# dsq-train (data-parallel training), e.g. MPI="mpirun -np 4"; SAMPLE_MPI
# (default: MPI) the same for dsq-sample, which splits each seed's examples
# over the ranks.  Seeds are separate runs (make -j for several at once).
THREADS ?=
MPI     ?=
SAMPLE_MPI ?= $(MPI)
# Where the tools are: this checkout's tools/ when built, else PATH.
DSQ_BIN ?= $(if $(wildcard $(PIPELINES)/../tools/dsq-train),$(abspath $(PIPELINES)/../tools))
T := $(if $(DSQ_BIN),$(DSQ_BIN)/,)
TOKENIZE := $(T)dsq-tokenize
TRAIN    := $(T)dsq-train
SAMPLE   := $(T)dsq-sample
MBR      := $(T)dsq-mbr
SCORE    := $(T)dsq-score
J        := $(if $(THREADS),--threads $(THREADS))
OMP      := $(if $(THREADS),OMP_NUM_THREADS=$(THREADS))

# --- the files ---------------------------------------------------------------
STEP6    := $(shell printf '%06d' $(LEARNING_STEPS))
VOCAB_TXT := $(OUT)/vocab.txt
RUN      := $(OUT)/run
# The checkpoint decoding uses (the first EMA rate); MODEL=... overrides it.
MODEL    ?= $(RUN)/ema_$(firstword $(subst $(comma), ,$(EMA_RATE)))_$(STEP6).safetensors
comma    := ,
DEC      := $(OUT)/decode/$(SAMPLER)$(if $(STEPS),-$(STEPS))
SEED_OUTS := $(foreach s,$(SEEDS),$(DEC)/seed$(s).jsonl)

.PHONY: all streams train decode report plot clean-decode
.DELETE_ON_ERROR:
all: $(DEC)/scores.json $(DEC)/diversity.json
streams: $(OUT)/train.dsq $(OUT)/test.dsq $(if $(VALID_JSONL),$(OUT)/valid.dsq)
train: $(MODEL)
decode: $(SEED_OUTS)

# The vocabulary: a copy of VOCAB, or a word list built from the training pairs.
$(VOCAB_TXT): $(if $(VOCAB),$(VOCAB),$(TRAIN_JSONL))
	@mkdir -p $(@D)
ifneq ($(VOCAB),)
	cp $< $@
else
	$(TOKENIZE) -q --build-vocab --min-count $(MIN_COUNT) $(J) -o $@ $<
endif

TOK = $(TOKENIZE) -q -k $(VOCAB_KIND) -v $(VOCAB_TXT) -L $(SEQ_LEN) $(J)
$(OUT)/train.dsq: $(TRAIN_JSONL) $(VOCAB_TXT)
	$(TOK) -o $@ $<
$(OUT)/valid.dsq: $(VALID_JSONL) $(VOCAB_TXT)
	$(TOK) -o $@ $<
$(OUT)/test.dsq: $(TEST_JSONL) $(VOCAB_TXT)
	$(TOK) -o $@ $<

# Training starts afresh in an empty run directory (RESUME=1: continue from
# its newest state instead, e.g. after a time-limited job).  The checkpoint
# of the last update is the target; it is written only when complete.
PLM_FILES := $(if $(INIT_PLM),$(INIT_PLM)/config.json $(wildcard $(INIT_PLM)/model.safetensors))
$(MODEL): $(OUT)/train.dsq $(if $(VALID_JSONL),$(OUT)/valid.dsq) $(VOCAB_TXT) $(PLM_FILES)
	$(if $(RESUME),,rm -rf $(RUN))
	$(OMP) $(MPI) $(TRAIN) --data $(OUT)/train.dsq $(if $(VALID_JSONL),--valid $(OUT)/valid.dsq) \
	  --vocab $(VOCAB_TXT) --vocab-kind $(VOCAB_KIND) --out $(RUN) $(if $(RESUME),--resume $(RUN)) \
	  --seq-len $(SEQ_LEN) $(if $(INIT_PLM),--init-plm $(INIT_PLM),--config $(CONFIG)) --hidden-dim $(HIDDEN_DIM) \
	  --diff-steps $(DIFF_STEPS) --noise-schedule $(NOISE_SCHEDULE) \
	  --schedule-sampler $(SCHEDULE_SAMPLER) --lr $(LR) --learning-steps $(LEARNING_STEPS) \
	  --bsz $(BSZ) --microbatch $(MICROBATCH) --save-interval $(SAVE_INTERVAL) \
	  --log-interval $(LOG_INTERVAL) --seed $(TRAIN_SEED) --ema-rate $(EMA_RATE) $(TRAIN_OPTS)
	@test -f $@ || { echo "diffuseq.mk: training did not write $@" >&2; exit 1; }

# One decode per seed (dsq-sample -o writes the file only when complete).
$(DEC)/seed%.jsonl: $(MODEL) $(OUT)/test.dsq
	@mkdir -p $(@D)
	$(OMP) $(SAMPLE_MPI) $(SAMPLE) --model $(MODEL) --sampler $(SAMPLER) $(if $(STEPS),--steps $(STEPS)) \
	  --seed $* $(if $(SAMPLE_BATCH),--batch $(SAMPLE_BATCH)) $(J) $(SAMPLE_OPTS) \
	  -o $@ $(OUT)/test.dsq

$(DEC)/mbr.jsonl: $(SEED_OUTS)
	$(MBR) -q $(J) $(CLEAN) $(MBR_OPTS) -o $@ $^

# The MBR output's figures; and the seeds' own figures with their diversity.
$(DEC)/scores.json: $(DEC)/mbr.jsonl
	$(SCORE) $(J) $(CLEAN) $(SCORE_OPTS) -o $@ $<
$(DEC)/diversity.json: $(SEED_OUTS)
	$(SCORE) $(J) $(CLEAN) $(SCORE_OPTS) $(if $(word 2,$(SEEDS)),,--no-diversity) -o $@ $^

report: $(DEC)/scores.json $(DEC)/diversity.json
	@echo "$(OUT): $(SAMPLER) $(STEPS) steps, seeds $(SEEDS), model $(MODEL)"
	@$(SCORE) --format table --no-diversity --keep-order $(J) $(CLEAN) $(SCORE_OPTS) $(SEED_OUTS) $(DEC)/mbr.jsonl
	@jq -r '.diversity | if . == null then "diversity: - (one seed)" else "diversity over \(.k) seeds: self-BLEU \(.self_bleu*10000|round/10000)  div-4 \(.div4*10000|round/10000)" end' $(DEC)/diversity.json

plot: $(RUN)/curves.png
$(RUN)/curves.png: $(MODEL)
	$(PIPELINES)/plot-log.sh $(RUN) $@ >/dev/null

clean-decode:
	rm -rf $(DEC)
