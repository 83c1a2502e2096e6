/*
 * banned.h: libc functions lode never calls. Include it last in every .c
 * file; a use becomes a compile error naming the function.
 *   strcpy/strcat/strncpy/sprintf/vsprintf: no bound, or a bound that does
 *     not NUL-terminate; use struct base_buf or snprintf.
 *   strtok: hidden state; atoi/atol: no error report; use strtol.
 *   gmtime/localtime/ctime/asctime: shared static result; use the _r forms.
 */
#ifndef LODE_BANNED_H
#define LODE_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef ctime
#define ctime(t) BANNED(ctime)
#undef asctime
#define asctime(t) BANNED(asctime)

#endif /* LODE_BANNED_H */
