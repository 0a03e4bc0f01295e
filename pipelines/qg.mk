# The paper's question-generation recipe (Quasar-T, 117k training pairs;
# DiffuSeq README): bring the data set and GPUs.
#   make -f pipelines/qg.mk DATA=datasets/QG OUT=out/qg [MPI="mpirun -np 4"] report
# The reference ran 4 processes with --bsz 2048 each (its batch is per
# process; dsq-train's BSZ is global).  Decoding: the full 2,000-step chain,
# 10 seeds for MBR.
OUT ?= out/qg
VOCAB_KIND := wordpiece
SEQ_LEN ?= 128
CONFIG ?= bert-base
HIDDEN_DIM ?= 128
DIFF_STEPS ?= 2000
NOISE_SCHEDULE ?= sqrt
SCHEDULE_SAMPLER ?= lossaware
LR ?= 1e-4
LEARNING_STEPS ?= 40000
SAVE_INTERVAL ?= 2000
BSZ ?= 8192
MICROBATCH ?= 64
TRAIN_SEED ?= 102
SAMPLER ?= ddpm
STEPS ?=
SEEDS ?= 101 102 103 104 105 106 107 108 109 110
include $(dir $(lastword $(MAKEFILE_LIST)))diffuseq.mk
