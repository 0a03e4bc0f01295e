# The paper's text-simplification recipe (Wiki-auto alignment, 677k
# training pairs; DiffuSeq README, "ts"): bring the data set and GPUs.
#   make -f pipelines/wiki.mk DATA=datasets/TS OUT=out/wiki [MPI="mpirun -np 8"] report
# The reference ran 8 processes with --bsz 2048 each (its batch is per
# process; dsq-train's BSZ is global).  Decoding: the full 2,000-step chain,
# 10 seeds for MBR.
OUT ?= out/wiki
VOCAB_KIND := wordpiece
SEQ_LEN ?= 128
CONFIG ?= bert-base
HIDDEN_DIM ?= 128
DIFF_STEPS ?= 2000
NOISE_SCHEDULE ?= sqrt
SCHEDULE_SAMPLER ?= lossaware
LR ?= 1e-4
LEARNING_STEPS ?= 80000
SAVE_INTERVAL ?= 20000
BSZ ?= 16384
MICROBATCH ?= 64
TRAIN_SEED ?= 102
SAMPLER ?= ddpm
STEPS ?=
SEEDS ?= 101 102 103 104 105 106 107 108 109 110
include $(dir $(lastword $(MAKEFILE_LIST)))diffuseq.mk
