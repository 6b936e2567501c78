// What the C API's translation units share (src/c_api/*.cc): the opaque handles' definitions, the
// per-thread message buffer and the wrapper that turns every exception into a status code.
#pragma once

#include <exception>
#include <new>
#include <string>

#include "propel/error.h"
#include "propel/model.h"
#include "propel/propel.h"
#include "propel/train.h"

struct propel_model {
  propel::Model model;
};

struct propel_trainer {
  propel::Trainer trainer;
  propel_model* model;
};

namespace propel::capi {

// The message of the calling thread's last failed call (propel_last_error).
std::string& LastError();

// Runs f; returns PROPEL_OK, or the error's status code with its message kept in LastError().
// Nothing is thrown across the C boundary.
template <class F>
int Wrap(F&& f) {
  try {
    f();
    return PROPEL_OK;
  } catch (const propel::Error& e) {
    LastError() = e.what();
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    LastError() = "propel: out of memory";
    return PROPEL_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    LastError() = std::string("propel: internal error: ") + e.what();
    return PROPEL_ERROR_INTERNAL;
  } catch (...) {
    LastError() = "propel: internal error: unknown exception";
    return PROPEL_ERROR_INTERNAL;
  }
}

// A refusal decided in the C layer itself: the message kept, the status returned.
inline int Refuse(const std::string& message) {
  LastError() = message;
  return PROPEL_ERROR_INVALID_ARGUMENT;
}

}  // namespace propel::capi
