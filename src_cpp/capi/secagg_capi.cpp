// extern "C" surface of the core (scaffold).
#include "secagg/secagg.h"
extern "C" __attribute__((visibility("default"))) const char* secagg_version(void) { return "0.1.0"; }
