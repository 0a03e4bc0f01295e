# The paper's QQP paraphrase recipe (DiffuSeq README): bring the full data
# set (train/valid/test.jsonl, 144k training pairs) and GPUs.
#   make -f pipelines/qqp.mk DATA=datasets/QQP OUT=out/qqp [MPI="mpirun -np 4"] report
#   make -f pipelines/qqp.mk V2=1 ...     the DiffuSeq-v2 variant
# The reference ran 4 processes with --bsz 2048 each: its batch is per
# process, dsq-train's BSZ is the global batch, hence 4 x 2048.  Decoding is
# the reference's full 2,000-step chain with 10 seeds for MBR (the paper's
# quality figures; its diversity figures use 3 seeds).
OUT ?= out/qqp
VOCAB_KIND := wordpiece
SEQ_LEN ?= 128
CONFIG ?= bert-base
HIDDEN_DIM ?= 128
DIFF_STEPS ?= 2000
NOISE_SCHEDULE ?= sqrt
SCHEDULE_SAMPLER ?= lossaware
LR ?= 1e-4
LEARNING_STEPS ?= 50000
TRAIN_SEED ?= 102
SEEDS ?= 101 102 103 104 105 106 107 108 109 110
ifeq ($(V2),1)
# DiffuSeq-v2 (its train.sh): learned soft absorbing state and discrete
# noise, 2 processes x 425, decoded with its DPM-Solver++ in 10 steps.
# (--use_fp16 of the reference is a precision choice, not a setting here.)
OUT := $(OUT)-v2
BSZ ?= 850
MICROBATCH ?= 425
SAVE_INTERVAL ?= 5000
TRAIN_OPTS ?= --learned-mean-embed --denoise --denoise-rate 0.5
SAMPLER ?= dpm++v2
STEPS ?= 10
else
BSZ ?= 8192
MICROBATCH ?= 64
SAVE_INTERVAL ?= 10000
SAMPLER ?= ddpm
STEPS ?=
endif
include $(dir $(lastword $(MAKEFILE_LIST)))diffuseq.mk
