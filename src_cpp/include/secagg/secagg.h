/* secagg C ABI: scaffold, completed by the native-core work. */
#ifndef SECAGG_SECAGG_H
#define SECAGG_SECAGG_H
#ifdef __cplusplus
extern "C" {
#endif
const char* secagg_version(void);
#ifdef __cplusplus
}
#endif
#endif
