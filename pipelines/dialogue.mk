# The paper's open-domain dialogue recipe (Commonsense Conversation, 3.4M
# training pairs; DiffuSeq README): bring the data set and GPUs.
#   make -f pipelines/dialogue.mk DATA=datasets/Conversation OUT=out/dialogue [MPI="mpirun -np 7"] report
# The reference ran 7 processes with --bsz 2048 each (its batch is per
# process; dsq-train's BSZ is global).  Decoding: the full 2,000-step chain,
# 10 seeds for MBR.
OUT ?= out/dialogue
VOCAB_KIND := wordpiece
SEQ_LEN ?= 128
CONFIG ?= bert-base
HIDDEN_DIM ?= 128
DIFF_STEPS ?= 2000
NOISE_SCHEDULE ?= sqrt
SCHEDULE_SAMPLER ?= lossaware
LR ?= 1e-4
LEARNING_STEPS ?= 140000
SAVE_INTERVAL ?= 20000
BSZ ?= 14336
MICROBATCH ?= 64
TRAIN_SEED ?= 102
SAMPLER ?= ddpm
STEPS ?=
SEEDS ?= 101 102 103 104 105 106 107 108 109 110
include $(dir $(lastword $(MAKEFILE_LIST)))diffuseq.mk
