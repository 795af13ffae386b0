/* libcnn's version.  The shared library's soname follows the major version
 * (libcnn.so.0); the Makefile reads the three numbers from here. */
#ifndef CNN_VERSION_H
#define CNN_VERSION_H

#include "api.h"

#define CNN_VERSION_MAJOR 0
#define CNN_VERSION_MINOR 1
#define CNN_VERSION_PATCH 0
#define CNN_VERSION "0.1.0" /* "MAJOR.MINOR.PATCH" of the headers */

CNN_BEGIN_DECLS

/* "MAJOR.MINOR.PATCH" of the library actually linked (which may differ from
 * CNN_VERSION when a program runs against a newer libcnn.so.0). */
CNN_API const char *cnn_version(void);

CNN_END_DECLS

#endif
