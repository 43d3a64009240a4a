// Empty: the module exists for its header (see include/FuzzSupport.h).
#include "FuzzSupport.h"
