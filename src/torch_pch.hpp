// Precompiled header for the LibTorch translation units: torch/script.h alone is ~1 s of parsing per file.
#pragma once
#include <torch/script.h>
#include <torch/torch.h>
