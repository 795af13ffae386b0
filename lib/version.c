/* The version of the library linked (version.h). */
#include "version.h"

#define STR2(x) #x
#define STR(x) STR2(x)

const char *cnn_version(void)
{
    return STR(CNN_VERSION_MAJOR) "." STR(CNN_VERSION_MINOR) "." STR(CNN_VERSION_PATCH);
}
