/* What every public header of libcnn starts with: the export macro and the
 * C++ linkage guards.
 *
 * libcnn is built with -fvisibility=hidden, so only the functions and objects
 * declared CNN_API in include/cnn/ are exported from libcnn.so; the internal
 * ones (layer-extension API, file I/O, safetensors, thread pool) are not. */
#ifndef CNN_API_H
#define CNN_API_H

#if defined(CNN_BUILDING) && defined(__GNUC__)
#define CNN_API __attribute__((visibility("default")))
#else
#define CNN_API
#endif

#ifdef __cplusplus
#define CNN_BEGIN_DECLS extern "C" {
#define CNN_END_DECLS }
#else
#define CNN_BEGIN_DECLS
#define CNN_END_DECLS
#endif

#endif
