// Umbrella header of propel's C++ API.
#pragma once

#include "propel/activation.h"
#include "propel/checkpoint.h"
#include "propel/data.h"
#include "propel/error.h"
#include "propel/gemm.h"
#include "propel/loss.h"
#include "propel/model.h"
#include "propel/onnx.h"
#include "propel/optim.h"
#include "propel/precision.h"
#include "propel/target.h"
#include "propel/threading.h"
#include "propel/train.h"
#include "propel/version.h"
