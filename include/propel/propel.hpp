// Umbrella header of propel's C++ API.
#pragma once

#include "propel/error.h"
#include "propel/gemm.h"
#include "propel/target.h"
#include "propel/threading.h"
#include "propel/version.h"
