/* Emulated CUDA runtime for the host build of kernels/ (see ../cuda_emu.h). */
#include "cuda_emu.h"
