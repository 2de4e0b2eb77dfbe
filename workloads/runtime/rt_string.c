/* Memory and string functions. Built with -fno-tree-loop-distribute-patterns
 * so gcc does not turn these loops back into calls to themselves. */
#include "workloads/runtime/rt.h"

void *memcpy(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dst;
}

void *memset(void *dst, int c, size_t n) {
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a;
  const unsigned char *y = b;
  for (; n > 0; n--, x++, y++) {
    if (*x != *y) return *x < *y ? -1 : 1;
  }
  return 0;
}

size_t strlen(const char *s) {
  const char *p = s;
  while (*p) p++;
  return (size_t)(p - s);
}

int strcmp(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n) {
  for (; n > 0; n--, a++, b++) {
    if (*a != *b || *a == 0) return (unsigned char)*a - (unsigned char)*b;
  }
  return 0;
}

char *strchr(const char *s, int c) {
  for (;; s++) {
    if (*s == (char)c) return (char *)s;
    if (*s == 0) return NULL;
  }
}

char *strrchr(const char *s, int c) {
  const char *last = NULL;
  for (;; s++) {
    if (*s == (char)c) last = s;
    if (*s == 0) return (char *)last;
  }
}

size_t rt_strlcpy(char *dst, const char *src, size_t size) {
  size_t n = strlen(src);
  if (size > 0) {
    size_t k = n < size - 1 ? n : size - 1;
    memcpy(dst, src, k);
    dst[k] = 0;
  }
  return n;
}

int rt_parse_u64(const char *s, uint64_t *out) {
  uint64_t v = 0;
  unsigned base = 10;
  if (s == NULL || *s == 0) return -1;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
    if (*s == 0) return -1;
  }
  for (; *s; s++) {
    unsigned d;
    if (*s >= '0' && *s <= '9') {
      d = (unsigned)(*s - '0');
    } else if (base == 16 && *s >= 'a' && *s <= 'f') {
      d = (unsigned)(*s - 'a' + 10);
    } else if (base == 16 && *s >= 'A' && *s <= 'F') {
      d = (unsigned)(*s - 'A' + 10);
    } else {
      return -1;
    }
    if (v > (~0UL - d) / base) return -1; /* overflow */
    v = v * base + d;
  }
  *out = v;
  return 0;
}

int rt_parse_i64(const char *s, int64_t *out) {
  uint64_t v;
  int neg = s != NULL && *s == '-';
  if (rt_parse_u64(neg ? s + 1 : s, &v) != 0) return -1;
  if (v > (neg ? 0x8000000000000000UL : 0x7fffffffffffffffUL)) return -1;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}
