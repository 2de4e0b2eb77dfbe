/* Formatted output without floating point. Supported conversions: %d %i %u
 * %x %X %s %c %p %%, the 'l' length modifier, the '-' and '0' flags and a
 * decimal width. Output goes through a small buffer that is flushed to a file
 * descriptor or kept in a caller's string. */
#include <stdarg.h>

#include "workloads/runtime/rt.h"

struct sink {
  char *buf;
  size_t cap;
  size_t len;
  int fd;     /* >= 0: flush to this fd when full; < 0: string sink */
  long total; /* bytes produced so far, or -errno after a failed write */
};

static void sink_flush(struct sink *s) {
  if (s->fd >= 0 && s->len > 0) {
    long r = rt_write_all(s->fd, s->buf, s->len);
    if (r < 0) s->total = r;
    s->len = 0;
  }
}

static void sink_put(struct sink *s, char c) {
  if (s->total >= 0) s->total++;
  if (s->fd >= 0) {
    if (s->len == s->cap) sink_flush(s);
    s->buf[s->len++] = c;
  } else if (s->len + 1 < s->cap) {
    s->buf[s->len++] = c;
  }
}

static void put_padded(struct sink *s, const char *text, size_t n, int width,
                       int left, char pad) {
  int fill = width > (int)n ? width - (int)n : 0;
  /* Zero padding goes after a sign. */
  if (pad == '0' && !left && n > 0 && text[0] == '-') {
    sink_put(s, '-');
    text++;
    n--;
  }
  if (!left) {
    while (fill-- > 0) sink_put(s, pad);
  }
  for (size_t i = 0; i < n; i++) sink_put(s, text[i]);
  if (left) {
    while (fill-- > 0) sink_put(s, ' ');
  }
}

/* Writes v in base into the end of tmp[24]; returns the first digit. */
static char *format_unsigned(char *end, unsigned long v, unsigned base,
                             int upper) {
  const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char *p = end;
  do {
    *--p = digits[v % base];
    v /= base;
  } while (v != 0);
  return p;
}

static void vformat(struct sink *s, const char *fmt, va_list ap) {
  char tmp[24];
  char *end = tmp + sizeof(tmp);
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      sink_put(s, *fmt);
      continue;
    }
    fmt++;
    int left = 0;
    char pad = ' ';
    int width = 0;
    int is_long = 0;
    for (;; fmt++) {
      if (*fmt == '-') {
        left = 1;
      } else if (*fmt == '0') {
        pad = '0';
      } else {
        break;
      }
    }
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l') {
      is_long = 1;
      fmt++;
    }
    char *p;
    switch (*fmt) {
      case 'd':
      case 'i': {
        long v = is_long ? va_arg(ap, long) : va_arg(ap, int);
        unsigned long mag = v < 0 ? 0UL - (unsigned long)v : (unsigned long)v;
        p = format_unsigned(end, mag, 10, 0);
        if (v < 0) *--p = '-';
        put_padded(s, p, (size_t)(end - p), width, left, pad);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        unsigned long v =
            is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
        p = format_unsigned(end, v, *fmt == 'u' ? 10 : 16, *fmt == 'X');
        put_padded(s, p, (size_t)(end - p), width, left, pad);
        break;
      }
      case 'p': {
        unsigned long v = (unsigned long)va_arg(ap, void *);
        p = format_unsigned(end, v, 16, 0);
        *--p = 'x';
        *--p = '0';
        put_padded(s, p, (size_t)(end - p), width, left, ' ');
        break;
      }
      case 's': {
        const char *str = va_arg(ap, const char *);
        if (str == NULL) str = "(null)";
        put_padded(s, str, strlen(str), width, left, ' ');
        break;
      }
      case 'c': {
        char c = (char)va_arg(ap, int);
        put_padded(s, &c, 1, width, left, ' ');
        break;
      }
      case '%':
        sink_put(s, '%');
        break;
      case 0:
        return;
      default: /* unknown conversion: print it as is */
        sink_put(s, '%');
        sink_put(s, *fmt);
        break;
    }
  }
}

static int vdprintf_impl(int fd, const char *fmt, va_list ap) {
  char buf[512];
  struct sink s = {buf, sizeof(buf), 0, fd, 0};
  vformat(&s, fmt, ap);
  sink_flush(&s);
  return (int)s.total;
}

int rt_dprintf(int fd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vdprintf_impl(fd, fmt, ap);
  va_end(ap);
  return r;
}

int rt_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vdprintf_impl(1, fmt, ap);
  va_end(ap);
  return r;
}

int rt_eprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vdprintf_impl(2, fmt, ap);
  va_end(ap);
  return r;
}

int rt_snprintf(char *buf, size_t size, const char *fmt, ...) {
  struct sink s = {buf, size, 0, -1, 0};
  va_list ap;
  va_start(ap, fmt);
  vformat(&s, fmt, ap);
  va_end(ap);
  if (size > 0) buf[s.len] = 0;
  return (int)s.total;
}

long rt_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  size_t left = n;
  while (left > 0) {
    long r = syscall3(SYS_write, fd, (long)p, (long)left);
    if (r == -EINTR) continue;
    if (r <= 0) return r < 0 ? r : -EIO;
    p += r;
    left -= (size_t)r;
  }
  return (long)n;
}

const char *rt_errname(long err) {
  static const struct {
    long err;
    const char *name;
  } kNames[] = {
      {EPERM, "EPERM"},
      {ENOENT, "ENOENT"},
      {ESRCH, "ESRCH"},
      {EINTR, "EINTR"},
      {EIO, "EIO"},
      {EBADF, "EBADF"},
      {ECHILD, "ECHILD"},
      {EAGAIN, "EAGAIN"},
      {ENOMEM, "ENOMEM"},
      {EACCES, "EACCES"},
      {EFAULT, "EFAULT"},
      {EBUSY, "EBUSY"},
      {EEXIST, "EEXIST"},
      {ENODEV, "ENODEV"},
      {ENOTDIR, "ENOTDIR"},
      {EINVAL, "EINVAL"},
      {ENOSPC, "ENOSPC"},
      {EROFS, "EROFS"},
      {ENOSYS, "ENOSYS"},
      {EOPNOTSUPP, "EOPNOTSUPP"},
      {EFBIG, "EFBIG"},
      {EAFNOSUPPORT, "EAFNOSUPPORT"},
      {ENETUNREACH, "ENETUNREACH"},
      {ETIMEDOUT, "ETIMEDOUT"},
      {ECONNREFUSED, "ECONNREFUSED"},
      {EHOSTUNREACH, "EHOSTUNREACH"},
      {EINPROGRESS, "EINPROGRESS"},
      {EDQUOT, "EDQUOT"},
      {ENXIO, "ENXIO"},
      {EXDEV, "EXDEV"},
      {ENFILE, "ENFILE"},
      {EMFILE, "EMFILE"},
      {ENAMETOOLONG, "ENAMETOOLONG"},
      {ELOOP, "ELOOP"},
      {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
      {ESTALE, "ESTALE"},
  };
  if (err < 0) err = -err;
  for (size_t i = 0; i < sizeof(kNames) / sizeof(kNames[0]); i++) {
    if (kNames[i].err == err) return kNames[i].name;
  }
  return "E?";
}
