/* MD5 (RFC 1321), used only to reproduce the reference's row ids. */
#ifndef EISNET_MD5_H
#define EISNET_MD5_H
#include <stddef.h>
#include <stdint.h>
void eisnet_md5(const void *data, size_t n, uint8_t digest[16]);
#endif
