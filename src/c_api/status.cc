// The C API's per-thread message buffer (src/c_api/status.h).
#include "src/c_api/status.h"

namespace propel::capi {

std::string& LastError() {
  thread_local std::string message;
  return message;
}

}  // namespace propel::capi
